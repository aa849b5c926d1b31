"""Property-based requests from the published OpenAPI against the running API, stateful
phase included, as one shop while another shop's orders sit beside it: no 5xx, and no read
or write across shops (bench/security.py runs the same for 10,000+ requests)."""

from pathlib import Path
from urllib.parse import quote

import httpx

from tests.support.rest_fuzz import ATTACKER, VICTIM, fuzz, order_ids, rest_api, shop_rows


async def test_generated_requests_get_no_server_error_and_never_cross_shops(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    log = tmp_path / "api.log"
    async with rest_api(database_url, kafka_bootstrap, log) as shops:
        before = await shop_rows(database_url, VICTIM)
        run = await fuzz(
            shops, tmp_path / "report.ndjson", max_examples=30, max_time=None, seed=20261127
        )
        after = await shop_rows(database_url, VICTIM)
        # The other way round: the victim's key reaches none of the attacker's orders.
        made = await order_ids(database_url, ATTACKER)
        async with httpx.AsyncClient(
            base_url=shops.base, headers={"API-KEY": shops.victim_key}
        ) as client:
            crossed = [
                order
                for order in made[:300]
                if (await client.get(f"/v2/orders/{quote(order, safe='')}")).status_code != 404
            ]
    summary = run.output[-4000:]
    assert run.requests >= 1000, summary
    assert not [s for s in run.statuses if s >= 500], (run.statuses, summary)
    assert run.stateful_scenarios > 0, summary
    assert run.leaks == []
    assert after == before
    assert len(made) > 4 and crossed == []
    assert run.returncode == 0, summary
    assert "Traceback" not in log.read_text()
