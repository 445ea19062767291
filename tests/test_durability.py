"""Acknowledged means durable: after Azurite and the service are both SIGKILLed and restarted, every
instance that was answered 200 is retrievable byte-identically, and stores cut off mid-flight are
either whole or absent.

Azurite keeps its index in memory and writes it to disk every 5 s (LokiJS autosave): a SIGKILL sooner
loses even what Azurite itself acknowledged (seen here: 5 stores answered 200, none left after the
restart). Azure Storage acknowledges only durable writes, so the test waits for Azurite's own save of
its database files (their modification time passing the last acknowledgement) before killing it.
"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import search, store

AZURITE_DATABASES = ("__azurite_db_blob__.json", "__azurite_db_blob_extent__.json", "__azurite_db_table__.json")


def wait_for_azurite_to_save(location: Path, after: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not all((location / name).stat().st_mtime > after for name in AZURITE_DATABASES):
        assert time.monotonic() < deadline, "Azurite did not save its databases"
        time.sleep(0.05)


def kill(process) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=20)


def test_every_acknowledged_instance_survives_sigkill_of_storage_and_service(tmp_path: Path) -> None:
    azurite = Azurite(tmp_path / "azurite").start()
    service = LocalHost(azurite.connection_string)
    study = generate_uid()
    sops = [generate_uid() for _ in range(20)]
    files = {sop: make_instance(study, generate_uid(), sop, rows=32 + n % 3, columns=32) for n, sop in enumerate(sops)}

    def store_one(item: tuple[str, bytes]) -> tuple[str, int]:
        with httpx.Client(timeout=60) as client:
            return item[0], store(client, f"{service.url}/v2/studies", [item[1]]).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        acknowledged = [sop for sop, status in pool.map(store_one, files.items()) if status == 200]
    assert len(acknowledged) == len(files)
    wait_for_azurite_to_save(azurite.location, after=time.time())

    in_flight = {sop: make_instance(study, generate_uid(), sop) for sop in [generate_uid() for _ in range(6)]}
    with ThreadPoolExecutor(max_workers=6) as pool:
        late = [pool.submit(store_one, (sop, data)) for sop, data in in_flight.items()]
        kill(service.process)
        kill(azurite.process)
        for future in late:
            future.exception(timeout=60)  # answered or cut off: the outcome is checked below

    azurite = Azurite(azurite.location, azurite.blob_port, azurite.table_port, azurite.queue_port).start()
    service = LocalHost(azurite.connection_string)
    try:
        with httpx.Client(timeout=60) as client:
            for sop in acknowledged:
                found = search(client, f"{service.url}/v2/instances", SOPInstanceUID=sop, includefield="0020000E")
                (series,) = found[0]["0020000E"]["Value"]
                response = client.get(
                    f"{service.url}/v2/studies/{study}/series/{series}/instances/{sop}",
                    headers={"Accept": "application/dicom; transfer-syntax=*"},
                )
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("application/dicom")
                assert response.content[128:] == files[sop][128:], "byte-identical, preamble aside"
            for sop, data in in_flight.items():
                listed = search(client, f"{service.url}/v2/instances", SOPInstanceUID=sop, includefield="0020000E")
                if listed:  # whole, never half: the index row has its file
                    series = listed[0]["0020000E"]["Value"][0]
                    url = f"{service.url}/v2/studies/{study}/series/{series}/instances/{sop}"
                    response = client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
                    assert response.content[128:] == data[128:]
    finally:
        service.stop()
        azurite.stop()
