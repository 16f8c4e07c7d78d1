"""Reads sluice's Iceberg tables back for crates/sluice/tests/serve_iceberg.rs.

    python read.py CATALOG_URI CATALOG_NAME NAMESPACE TABLE...

Prints a JSON line listing the namespace's tables (`{"table": "", "tables": [...]}`),
then one per table given: the Iceberg schema (column name -> type), the
rows PyIceberg's scan returns, and the rows DuckDB reads from the Parquet files the
Iceberg scan plans (null for files in a bucket), each row an object with `time` as microseconds since the epoch.
"""

import json
import os
import sys

import duckdb
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog

PER_MICROSECOND = {"s": None, "ms": None, "us": 1, "ns": 1000}


def values_of(column):
    """A column as Python values; timestamps as integer microseconds since the epoch."""
    if pa.types.is_timestamp(column.type):
        per_us = PER_MICROSECOND[column.type.unit]
        raw = column.cast(pa.timestamp(column.type.unit)).cast(pa.int64()).to_pylist()
        return [None if v is None else v // per_us for v in raw]
    return column.to_pylist()


def rows_of(table):
    columns = table.column_names
    values = [values_of(table.column(c)) for c in columns]
    return [{c: v[i] for c, v in zip(columns, values)} for i in range(table.num_rows)]


def main():
    uri, name, namespace, *tables = sys.argv[1:]
    # FileIO properties (an S3 endpoint and keys), as JSON, for tables in a bucket.
    properties = json.loads(os.environ.get("SLUICE_ICEBERG_PROPERTIES", "{}"))
    catalog = SqlCatalog(name, uri=uri, **properties)
    listed = sorted(ident[-1] for ident in catalog.list_tables(namespace))
    print(json.dumps({"table": "", "tables": listed}))
    for table_name in tables:
        table = catalog.load_table((namespace, table_name))
        scan = table.scan()
        # to_arrow() fails to merge a dictionary-encoded tag of one file with the same
        # column missing from another (docs/iceberg.md); the batch reader casts each batch.
        iceberg_rows = rows_of(scan.to_arrow_batch_reader().read_all())
        paths = [task.file.file_path for task in scan.plan_files()]
        if any(not p.startswith("file://") for p in paths):
            # DuckDB reads buckets through its httpfs extension, which it downloads on
            # first use; tests reach PyPI only, so files in a bucket are PyIceberg's alone.
            duckdb_rows = None
        elif paths:
            paths = [p.removeprefix("file://") for p in paths]
            con = duckdb.connect()
            arrow = con.execute(
                "SELECT * FROM read_parquet(?, union_by_name = true)", [paths]
            ).to_arrow_table()
            duckdb_rows = rows_of(arrow)
        else:
            duckdb_rows = []
        schema = {f.name: str(f.field_type) for f in table.schema().fields}
        print(
            json.dumps(
                {
                    "table": table_name,
                    "schema": schema,
                    "files": len(paths),
                    "iceberg": iceberg_rows,
                    "duckdb": duckdb_rows,
                }
            )
        )


main()
