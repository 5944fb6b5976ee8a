"""CLI: `python -m clara_ray.datasets.ingest PATH... [--domain D] [--local] [--force]` ingests into the configured stores."""

from __future__ import annotations

import argparse
import json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("paths", nargs="+", help="JSONL/JSON/Parquet/CSV files or folders (text files: .txt/.md)")
    ap.add_argument("--domain", help="domain for records without one")
    ap.add_argument("--document-type", help="document_type for records without one")
    ap.add_argument("--local", action="store_true", help="run in-process instead of on Ray Data")
    ap.add_argument("--force", action="store_true", help="re-embed unchanged documents too")
    args = ap.parse_args()

    from clara_ray.config import load_settings
    from clara_ray.datasets.errors import DatasetInputError
    from clara_ray.datasets.schemas import IngestRequest
    from clara_ray.datasets.service import DatasetService

    defaults = {k: v for k, v in (("domain", args.domain), ("document_type", args.document_type)) if v}
    svc = DatasetService(load_settings())
    try:
        report = svc.ingest(IngestRequest(paths=args.paths, defaults=defaults, use_ray=not args.local, force=args.force))
        print(json.dumps(report, indent=2, ensure_ascii=False))
    except DatasetInputError as e:
        raise SystemExit(f"error: {e}") from None
    finally:
        svc.close()


if __name__ == "__main__":
    main()
