"""The deal table's closed deals (`ChainHistory.closed_deals`) built from a history's kept rows, without pandas."""

from __future__ import annotations


def closed_deal_records(rows: dict[str, list[dict]]) -> list[dict]:
    """The deals of the table `ChainHistory.deal_table()` builds from `rows` (its tables' rows by name) that were
    accepted and closed, in the table's order, as records of the columns a reputation scores."""
    # The table's order: by the first block a deal id was seen in (requests, deals, closures), ties in order
    # of first sight.
    first_block: dict[str, int] = {}
    for name in ("requests", "deals", "closures"):
        for row in rows[name]:
            seen = first_block.get(row["deal_id"])
            if seen is None or row["block"] < seen:
                first_block[row["deal_id"]] = row["block"]
    requests, verdicts, closures = ({} for _ in range(3))
    for table, name in ((requests, "requests"), (verdicts, "verdicts"), (closures, "closures")):
        for row in rows[name]:
            table.setdefault(row["deal_id"], row)  # the first of each deal, as the table keeps it
    accepted: dict[str, list[dict]] = {}
    for row in rows["deals"]:
        accepted.setdefault(row["deal_id"], []).append(row)
    records = []
    for deal_id in sorted(first_block, key=first_block.__getitem__):
        closure = closures.get(deal_id)
        if closure is None:
            continue
        request, verdict = requests.get(deal_id), verdicts.get(deal_id)
        for deal in accepted.get(deal_id, ()):
            if deal["provider"] is None:
                continue
            records.append({
                "client": deal["client"], "provider": deal["provider"],
                "status_at_acceptance": deal["status_at_acceptance"],
                "scheme": request["scheme"] if request else None,
                "validator": request["validator"] if request else None,
                "verdict": verdict["approved"] if verdict else None,
                "outcome": closure["outcome"], "reason": closure["reason"], "closed_time": closure["time"],
            })
    return records
