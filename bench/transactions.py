"""Storage transactions per DICOMweb operation, counted by a proxy in front of Azurite: what each
operation would be billed in Azure Storage (where every REST call is one transaction).

Usage: python -m bench.transactions   (writes bench/results/transactions.md)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from bench.data import RELATED, multipart, synthetic_instance
from bench.servers import local_host
from local.azurite import Azurite
from tests.fault_proxy import FaultProxy


def main() -> None:
    azurite = Azurite().start()
    with FaultProxy(azurite.blob_port) as blobs, FaultProxy(azurite.table_port) as tables:
        connection = azurite.connection_string.replace(f":{azurite.blob_port}/", f":{blobs.port}/")
        connection = connection.replace(f":{azurite.table_port}/", f":{tables.port}/")
        with local_host(connection) as server:
            rows = measure(server.base_url, blobs, tables)
    azurite.stop()
    lines = ["| operation | blob calls | table calls | total |", "|---|---|---|---|"]
    lines += [f"| {name} | {blob} | {table} | {blob + table} |" for name, blob, table in rows]
    text = "\n".join(lines)
    print(text)
    out = Path("bench/results/transactions.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


def measure(base: str, blobs: FaultProxy, tables: FaultProxy) -> list[tuple[str, int, int]]:
    client = httpx.Client(timeout=120)
    client.get(f"{base}/studies", params={"PatientID": "warm-up"})  # creates the container and tables
    study = [synthetic_instance(1, s, i) for s in range(3) for i in range(4)]
    big = [synthetic_instance(2, s, i) for s in range(2) for i in range(25)]
    one = study[0]
    url = f"{base}/studies/{one.study}/series/{one.series}/instances/{one.sop}"
    multiframe = synthetic_instance(3, size=256, frames=220)
    frame_url = f"{base}/studies/{multiframe.study}/series/{multiframe.series}/instances/{multiframe.sop}/frames/110"

    def post(files: list) -> Callable[[], httpx.Response]:
        return lambda: client.post(f"{base}/studies", content=multipart([f.data for f in files]),
                                   headers={"Content-Type": RELATED})  # fmt: skip

    steps: list[tuple[str, Callable[[], httpx.Response]]] = [
        ("STOW 1 instance, new study", post(study[:1])),
        ("STOW 1 instance, existing series", post(study[1:2])),
        ("STOW 10 instances of one study in one request", post(study[2:12])),
        ("STOW 50 instances of one study in one request", post(big)),
        ("STOW upsert (PUT) of 1 existing instance", lambda: client.put(
            f"{base}/studies", content=multipart([one.data]), headers={"Content-Type": RELATED})),
        ("STOW multi-frame instance (220 frames)", post([multiframe])),
        ("WADO instance", lambda: client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})),
        ("WADO series (4 instances)", lambda: client.get(f"{base}/studies/{one.study}/series/{one.series}")),
        ("WADO instance metadata", lambda: client.get(url + "/metadata")),
        ("WADO study metadata (12 instances)", lambda: client.get(f"{base}/studies/{one.study}/metadata")),
        ("WADO one frame", lambda: client.get(frame_url, headers={"Accept": "application/octet-stream"})),
        ("WADO rendered", lambda: client.get(url + "/rendered")),
        ("QIDO studies by PatientID (1 match)", lambda: client.get(f"{base}/studies",
                                                                  params={"PatientID": one.patient_id})),
        ("QIDO series of a study", lambda: client.get(f"{base}/studies/{one.study}/series")),
        ("QIDO instances of a series", lambda: client.get(f"{base}/studies/{one.study}/series/{one.series}/instances")),
        ("DELETE study (12 instances)", lambda: client.delete(f"{base}/studies/{one.study}")),
    ]  # fmt: skip
    rows = []
    for name, call in steps:
        blobs.requests.clear()
        tables.requests.clear()
        response = call()
        assert response.status_code < 300, (name, response.status_code, response.text[:300])
        rows.append((name, sum(blobs.requests.values()), sum(tables.requests.values())))
    return rows


if __name__ == "__main__":
    main()
