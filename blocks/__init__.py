from blocks.azure import AzureBlock as AzureBlock
