from blocks.gcp import GCPBlock as GCPBlock
