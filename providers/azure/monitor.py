"""What Azure Monitor metrics and logs share: ingestion through a data collection rule
(azure-monitor-ingestion) and KQL queries of the Log Analytics workspace (azure-monitor-query).

Records go to a DCR stream (`Custom-<Table>_CL`) that lands in the workspace table
`<Table>_CL`; reading back is a KQL query over a time range.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast

from providers.azure.adapter import AzureAdapter, sdk_import_error
from providers.errors import CloudError

try:
    from azure.monitor.ingestion import LogsIngestionClient
    from azure.monitor.query import LogsQueryClient, LogsQueryStatus
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise sdk_import_error("azure-monitor-ingestion") from exc

LOGS_QUERY_ENDPOINT = "https://api.loganalytics.io"


def kql_string(value: str) -> str:
    """A KQL string literal (single-quoted, backslash escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def table_of(stream: str) -> str:
    """The workspace table a custom DCR stream writes to."""
    return stream.removeprefix("Custom-")


class MonitorWorkspace:
    """One data collection rule to write through and one workspace to query."""

    def __init__(
        self,
        credential: Any,
        *,
        ingestion_endpoint: str,
        rule_id: str,
        workspace_id: str,
        query_endpoint: str = LOGS_QUERY_ENDPOINT,
        connection_verify: bool | str = True,
        sdk_retries: int = 2,
    ) -> None:
        self.rule_id = rule_id
        self.workspace_id = workspace_id
        options: dict[str, Any] = {
            "connection_verify": connection_verify,
            "retry_total": sdk_retries,
        }
        self.ingestion = LogsIngestionClient(ingestion_endpoint, credential, **options)
        self.queries = LogsQueryClient(credential, endpoint=query_endpoint, **options)

    def upload(self, stream: str, records: list[dict[str, Any]]) -> None:
        """Send records (the SDK gzips them and splits batches at the 1 MB limit)."""
        failures: list[Exception] = []
        self.ingestion.upload(
            self.rule_id, stream, cast(Any, records), on_error=lambda e: failures.append(e.error)
        )
        if failures:
            raise failures[0]

    def query(self, kql: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Rows of the first result table as dicts; a partial result is an error."""
        result = self.queries.query_workspace(self.workspace_id, kql, timespan=(start, end))
        if result.status != LogsQueryStatus.SUCCESS:
            error = getattr(result, "partial_error", None)
            raise CloudError(
                f"the query returned partial results ({getattr(error, 'message', error)})",
                provider="azure",
                operation="query",
                resource=self.workspace_id,
                hint="Narrow the time range or the query",
            )
        if not result.tables:
            return []
        table = result.tables[0]
        names = [c if isinstance(c, str) else c.name for c in table.columns]
        return [dict(zip(names, row, strict=False)) for row in table.rows]


class MonitorStreamService(AzureAdapter):
    """A service whose records go in through one DCR stream and come back by KQL."""

    default_stream: ClassVar[str] = ""

    def __init__(
        self,
        credential: Any,
        *,
        ingestion_endpoint: str,
        rule_id: str,
        workspace_id: str,
        stream: str | None = None,
        **options: Any,
    ) -> None:
        self.stream = stream or self.default_stream
        self.table = table_of(self.stream)
        self.workspace = MonitorWorkspace(
            credential,
            ingestion_endpoint=ingestion_endpoint,
            rule_id=rule_id,
            workspace_id=workspace_id,
            **options,
        )

    @property
    def location(self) -> str:
        return f"workspace {self.workspace.workspace_id}"
