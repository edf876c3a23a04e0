"""On-chain history of the market as pandas DataFrames: requests, offers, deals, attestations, verdicts,
disputes, closures.

`ChainHistory` reads the market's events and the EAS attestations of the market's three schemas with
eth_getLogs (address and topic filters, over block ranges of `chunk_size`: `agents.chain.logs`) through a
`SyncClient`, decodes them with the chain layer's `ContractCodec` and keeps them as rows. `refresh()` reads
only the blocks added since the last call; if the chain was rewound under it (a reorg, or a test's snapshot
revert) it notices and rebuilds from its first block.

Conventions of every table:
- deal ids, offer hashes, attestation UIDs and other bytes32 values are "0x"-prefixed hex strings;
  addresses are checksummed strings;
- amounts (prices, collateral, fees, bonds) are exact Python ints in object columns: uint96 does not fit in int64;
- enums (Status, CloseReason, ValidationScheme) are their member names, e.g. "SETTLED"; how a deal went to the
  court is the scheme message that took it there ("dispute", "appeal" or "escalate");
- `time` columns are block timestamps in Unix seconds (nullable "Int64" where a stage may be missing).
"""

from __future__ import annotations

import pandas as pd
from eth_abi import decode

from agents.chain.abi import eas_abi, project_abi
from agents.chain.codec import ContractCodec
from agents.chain.logs import BlockCursor, BlockTimes, get_logs_chunked
from agents.chain.scheme import MARKET_EVENTS, MESSAGES
from agents.chain.sync import SyncClient, as_int
from agents.knowledge.records import closed_deal_records
from agents.protocol import CloseReason, Domain, Offer, Performative, Request, Status, to_checksum_address, typed_hash


def to_hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


# ------------------------------------------------------------------------------------------------------
# The history
# ------------------------------------------------------------------------------------------------------

SCHEMA_NAMES = ("commencement", "completion", "validation")

# Column order of each table, also used to build empty tables with the right columns.
REQUEST_COLUMNS = [
    "deal_id", "client", "token", "max_price", "min_collateral", "offer_deadline", "commence_within",
    "job_duration", "validation_window", "scheme", "validator", "validator_fee", "bond", "spec_hash", "nonce",
    "spec_uri", "block", "time", "tx_hash",
]
OFFER_COLUMNS = [
    "deal_id", "offer_hash", "signer", "provider", "price", "collateral", "expiry", "round", "counter",
    "signature", "block", "time", "tx_hash", "log_index",
]
OFFER_CANCELLATION_COLUMNS = ["offer_hash", "signer", "block", "time", "tx_hash"]
DEAL_COLUMNS = [
    "deal_id", "client", "provider", "offer_hash", "price", "collateral", "terms_source",
    "status_at_acceptance", "block", "time", "tx_hash",
]
FUNDING_COLUMNS = ["deal_id", "account", "block", "time", "tx_hash"]
ATTESTATION_COLUMNS = [
    "uid", "schema", "attester", "recipient", "deal_id", "approved", "result_hash", "block", "time", "tx_hash",
]
VERDICT_COLUMNS = ["deal_id", "attestation", "approved", "block", "time", "tx_hash"]
# `message`: dispute (the optimistic client), appeal (the party the verdict went against: `party`, with `bond`) or
# escalate (a silent validator's deal, by anyone: no party, no bond); the court must rule by `deadline`.
DISPUTE_COLUMNS = ["deal_id", "message", "party", "bond", "deadline", "block", "time", "tx_hash"]
CLOSURE_COLUMNS = ["deal_id", "outcome", "reason", "block", "time", "tx_hash"]
SLASHING_COLUMNS = ["deal_id", "provider", "client", "collateral", "reason", "block", "time", "tx_hash"]
DEAL_TABLE_COLUMNS = [
    "deal_id", "client", "provider", "token", "scheme", "validator", "max_price", "price", "collateral",
    "offers", "counter_offers", "status_at_acceptance", "requested_time", "accepted_time", "funded_time",
    "commenced_time", "completed_time", "judged_time", "verdict", "disputed_time", "dispute", "validated_time",
    "closed_time", "validation_attester", "approved", "outcome", "reason", "status", "time_to_agreement",
]
_AMOUNT_COLUMNS = ("max_price", "min_collateral", "price", "collateral", "validator_fee", "bond", "nonce")
_NULLABLE_INT_COLUMNS = (
    "requested_time", "accepted_time", "funded_time", "commenced_time", "completed_time", "judged_time",
    "disputed_time", "validated_time", "closed_time", "time_to_agreement", "offers", "counter_offers",
)
# The events that take a deal to the court, and the message each is.
_TO_COURT = {MESSAGES[p].event: MESSAGES[p] for p in (Performative.DISPUTE, Performative.APPEAL, Performative.ESCALATE)}
TABLES = ("requests", "offers", "offer_cancellations", "deals", "fundings", "attestations", "verdicts", "disputes",
          "closures")


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in _AMOUNT_COLUMNS:
        if column in frame:
            frame[column] = frame[column].astype(object)
    return frame


class ChainHistory:
    """The market's history over [from_block, latest - confirmations], kept up to date by `refresh()`.

    >>> history = ChainHistory(SyncClient.connect(url), market_address, eas_address, from_block=deployment_block)
    >>> history.refresh()
    >>> history.deal_table()
    """

    def __init__(
        self,
        client: SyncClient,
        market_address: str,
        eas_address: str,
        *,
        from_block: int = 0,
        chunk_size: int = 2_000,
        confirmations: int = 0,
    ):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.client = client
        self.market_address = to_checksum_address(market_address)
        self.eas_address = to_checksum_address(eas_address)
        self.chunk_size = chunk_size
        self.confirmations = confirmations
        self.domain = Domain(chain_id=client.chain_id(), market=self.market_address)
        self._market_codec = ContractCodec(project_abi("ComputeMarket"))
        self._market_topics = [self._market_codec.topics[name] for name in MARKET_EVENTS]
        self._eas_codec = ContractCodec(eas_abi("EAS"))
        self.schema_names = {
            client.read(self.market_address, self._market_codec, f"{name}SchemaUID")[0]: name
            for name in SCHEMA_NAMES
        }
        # Both accepts take the same (request, offer, signature): agents call acceptFunded, others accept.
        accepts = [self._market_codec.function(name) for name in ("accept", "acceptFunded")]
        self._accept_selectors = {selector for selector, _ in accepts}
        self._accept_types = accepts[0][1]
        self.cursor = BlockCursor(from_block)
        self.block_times = BlockTimes(self.client)
        self._reset()

    @classmethod
    def from_system(cls, client: SyncClient, system, **options) -> "ChainHistory":
        """A history of an `agents.deploy.system.System` (anything with `.market` and `.eas` addresses)."""
        return cls(client, system.market.address, system.eas.address, **options)

    def _reset(self) -> None:
        self.cursor.reset()
        self.block_times.clear()
        self._rows: dict[str, list[dict]] = {name: [] for name in TABLES}
        self._offers_by_hash: dict[str, dict] = {}
        self._attestations_by_uid: dict[str, dict] = {}
        self._frames: dict[str, pd.DataFrame | list] = {}  # tables built since the last refresh

    @property
    def next_block(self) -> int:
        """The first block the next `refresh()` reads."""
        return self.cursor.next_block

    # --- reading ------------------------------------------------------------------------------------

    def refresh(self, to_block: int | None = None) -> int:
        """Read the blocks added since the last refresh (up to `to_block`, by default the latest block
        less `confirmations`), one chunk at a time. Returns the number of new events."""
        if self.cursor.rewound(self.client):
            self._reset()
        last = self.client.block_number() - self.confirmations
        if to_block is not None:
            last = min(last, to_block)
        count = 0
        for start in range(self.cursor.next_block, last + 1, self.chunk_size):
            end = min(start + self.chunk_size - 1, last)
            count += self._read_range(start, end)
            self.cursor.advance(self.client, end)  # per chunk, so an interrupted refresh keeps its progress
        return count

    def _read_range(self, start: int, end: int) -> int:
        market_topics = [["0x" + topic.hex() for topic in self._market_topics]]
        market_logs = self._get_logs(self.market_address, market_topics, start, end)
        attested = ["0x" + self._eas_codec.topics["Attested"].hex(), None, None,
                    ["0x" + uid.hex() for uid in self.schema_names]]
        eas_logs = self._get_logs(self.eas_address, attested, start, end)
        for log in market_logs + eas_logs:
            log["blockNumber"], log["logIndex"] = as_int(log["blockNumber"]), as_int(log["logIndex"])
        logs = sorted(market_logs + eas_logs, key=lambda log: (log["blockNumber"], log["logIndex"]))
        if not logs:
            return 0
        self.block_times.fetch(log["blockNumber"] for log in logs)
        # A range is taken whole or not at all: a failure half-way must not leave rows to be read twice.
        sizes = {name: len(rows) for name, rows in self._rows.items()}
        try:
            new_attestations: list[dict] = []
            for log in logs:
                self._ingest(log, new_attestations)
            self._complete_attestations(new_attestations)
        except BaseException:
            for name, size in sizes.items():
                del self._rows[name][size:]
            raise
        finally:
            self._frames.clear()
        return len(logs)

    def _get_logs(self, address: str, topics: list, start: int, end: int) -> list:
        chunks = get_logs_chunked(self.client, address, topics, start, end, self.chunk_size)
        return [log for chunk in chunks for log in chunk]

    def _ingest(self, log, new_attestations: list[dict]) -> None:
        block = log["blockNumber"]
        where = {"block": block, "time": self.block_times[block], "tx_hash": log["transactionHash"]}
        from_eas = to_checksum_address(log["address"]) == self.eas_address
        decoded = (self._eas_codec if from_eas else self._market_codec).decode_log(log)
        if decoded is not None:
            self.ingest_event(from_eas, *decoded, where, log["logIndex"], new_attestations)

    def ingest_event(self, from_eas: bool, name: str, args: dict, where: dict, log_index: int,
                     new_attestations: list[dict]) -> None:
        """One decoded event of the market or of EAS (an Attested of the market's schemas) at `where` (block,
        time, tx_hash): what `refresh` reads from logs, and a memory backend hands over directly."""
        if from_eas:
            row = {
                "uid": to_hex32(args["uid"]),
                "schema": self.schema_names[bytes(args["schemaUID"])],
                "attester": to_checksum_address(args["attester"]),
                "recipient": to_checksum_address(args["recipient"]),
                "deal_id": None,
                "approved": None,
                "result_hash": None,
                **where,
            }
            self._rows["attestations"].append(row)
            self._attestations_by_uid[row["uid"]] = row
            new_attestations.append(row)
            return
        deal_id = to_hex32(args["dealId"]) if "dealId" in args else None
        if name == "Requested":
            request = Request.from_tuple(tuple(args["request"].values()))
            self._rows["requests"].append({
                "deal_id": deal_id, "client": request.client, "token": request.token,
                "max_price": request.max_price, "min_collateral": request.min_collateral,
                "offer_deadline": request.offer_deadline, "commence_within": request.commence_within,
                "job_duration": request.job_duration, "validation_window": request.validation_window,
                "scheme": request.scheme.name, "validator": request.validator,
                "validator_fee": request.validator_fee, "bond": request.bond,
                "spec_hash": to_hex32(request.spec_hash), "nonce": request.nonce, "spec_uri": args["specURI"],
                **where,
            })
        elif name == "Offered":
            offer = Offer.from_tuple(tuple(args["offer"].values()))
            signer = to_checksum_address(args["signer"])
            row = {
                "deal_id": deal_id, "offer_hash": to_hex32(typed_hash(self.domain, offer)), "signer": signer,
                "provider": offer.provider, "price": offer.price, "collateral": offer.collateral,
                "expiry": offer.expiry, "round": offer.round, "counter": signer != offer.provider,
                "signature": "0x" + bytes(args["signature"]).hex(), **where, "log_index": log_index,
            }
            self._rows["offers"].append(row)
            self._offers_by_hash[row["offer_hash"]] = row
        elif name == "OfferCancelled":
            self._rows["offer_cancellations"].append(
                {"offer_hash": to_hex32(args["offerHash"]), "signer": to_checksum_address(args["signer"]), **where}
            )
        elif name == "Accepted":
            offer_hash = to_hex32(args["offerHash"])
            terms, source = self._accepted_terms(offer_hash, where["tx_hash"])
            self._rows["deals"].append({
                "deal_id": deal_id, "client": to_checksum_address(args["client"]),
                "provider": to_checksum_address(args["provider"]), "offer_hash": offer_hash,
                "price": terms.get("price"), "collateral": terms.get("collateral"), "terms_source": source,
                "status_at_acceptance": Status(args["status"]).name, **where,
            })
        elif name == "Funded":
            account = to_checksum_address(args["account"])
            self._rows["fundings"].append({"deal_id": deal_id, "account": account, **where})
        elif name in ("Commenced", "Completed", "Judged"):
            # Emitted by the resolver right after EAS's Attested in the same transaction: names the deal.
            row = self._attestations_by_uid.get(to_hex32(args["attestation"]))
            if row is not None:
                row["deal_id"] = deal_id
                if name == "Completed":
                    row["result_hash"] = to_hex32(args["resultHash"])
            if name == "Judged":
                verdict = {"attestation": to_hex32(args["attestation"]), "approved": bool(args["approved"])}
                self._rows["verdicts"].append({"deal_id": deal_id, **verdict, **where})
        elif name in _TO_COURT:
            spec = _TO_COURT[name]
            party = to_checksum_address(args[spec.sender_field]) if spec.sender_field else None
            self._rows["disputes"].append({"deal_id": deal_id, "message": spec.performative.value, "party": party,
                                           "bond": args.get("bond", 0), "deadline": args["deadline"], **where})
        elif name == "Closed":
            outcome, reason = Status(args["outcome"]).name, CloseReason(args["reason"]).name
            self._rows["closures"].append({"deal_id": deal_id, "outcome": outcome, "reason": reason, **where})

    def _accepted_terms(self, offer_hash: str, tx_hash) -> tuple[dict, str | None]:
        """Price and collateral of an accepted offer: from its Offered event, else (an offer signed off
        chain) from the accept call's calldata when the transaction called the market directly."""
        offered = self._offers_by_hash.get(offer_hash)
        if offered is not None:
            return offered, "offer"
        tx = self.client.transaction(tx_hash)
        data = bytes.fromhex(tx["input"][2:])
        if tx["to"] and to_checksum_address(tx["to"]) == self.market_address and data[:4] in self._accept_selectors:
            _, terms, _ = decode(self._accept_types, data[4:])
            offer = Offer.from_tuple(terms)
            if to_hex32(typed_hash(self.domain, offer)) == offer_hash:
                return {"price": offer.price, "collateral": offer.collateral}, "calldata"
        return {}, None

    def _complete_attestations(self, rows: list[dict]) -> None:
        """Deal ids of attestations no market event named (validation ones): read from EAS, with the
        verdict. Every market schema starts with `bytes32 dealId`, so its first word is the deal id."""
        unnamed = [row for row in rows if row["deal_id"] is None or row["schema"] == "validation"]
        if not unnamed:
            return
        calls = [(self.eas_address, self._eas_codec.encode_call("getAttestation", bytes.fromhex(row["uid"][2:])))
                 for row in unnamed]
        results = self.client.call_batch(calls)
        for row, result in zip(unnamed, results):
            (attestation,) = self._eas_codec.decode_result("getAttestation", result)
            data = attestation["data"]
            row["deal_id"] = to_hex32(data[:32])
            if row["schema"] == "validation":
                row["approved"] = bool(decode(["bytes32", "bool"], data)[1])

    # --- tables -------------------------------------------------------------------------------------

    def _cached(self, name: str, build) -> pd.DataFrame:
        if name not in self._frames:
            self._frames[name] = build()
        return self._frames[name].copy()

    def _table(self, name: str, columns: list[str]) -> pd.DataFrame:
        return self._cached(name, lambda: _frame(self._rows[name], columns))

    requests = property(lambda self: self._table("requests", REQUEST_COLUMNS))
    offers = property(lambda self: self._table("offers", OFFER_COLUMNS),
                      doc="Offers (signer = provider) and counter-offers (signer = client, `counter` True).")
    offer_cancellations = property(lambda self: self._table("offer_cancellations", OFFER_CANCELLATION_COLUMNS))
    deals = property(lambda self: self._table("deals", DEAL_COLUMNS),
                     doc="Accepted deals. `terms_source` says where price and collateral came from: \"offer\" (the "
                         "matched Offered event), \"calldata\" (the accept transaction), or None (unknown: the columns "
                         "are None).")
    fundings = property(lambda self: self._table("fundings", FUNDING_COLUMNS))
    attestations = property(lambda self: self._table("attestations", ATTESTATION_COLUMNS),
                            doc="EAS attestations of the market's schemas; `approved` is set for validation "
                                "attestations (the client's approval, a validator's verdict, the court's ruling) and "
                                "`result_hash` for completion ones.")
    verdicts = property(lambda self: self._table("verdicts", VERDICT_COLUMNS),
                        doc="Validators' verdicts (Judged): each deal's validation attestation by its validator.")
    disputes = property(lambda self: self._table("disputes", DISPUTE_COLUMNS),
                        doc="Deals taken to the court: by dispute, appeal or escalation.")
    closures = property(lambda self: self._table("closures", CLOSURE_COLUMNS))

    @property
    def slashings(self) -> pd.DataFrame:
        """Closures with outcome SLASHED, with the parties and the collateral the client received."""

        def build():
            slashed = self.closures[self.closures["outcome"] == Status.SLASHED.name]
            parties = self.deals[["deal_id", "provider", "client", "collateral"]]
            return slashed.merge(parties, on="deal_id", how="left")[SLASHING_COLUMNS]

        return self._cached("slashings", build)

    def deal_table(self) -> pd.DataFrame:
        """One row per deal id seen (requested, accepted or closed in range), in order of first sight:
        parties, terms, the time of each stage, the validator's `verdict`, how it went to the court (`dispute`:
        the message), the validation that decided it (`validation_attester`, `approved`: the last one, so the
        court's ruling over a verdict), the outcome, and `time_to_agreement` (seconds from request to acceptance).
        `status` is the latest status the events show (NONE for an open request; a deadline that passed without
        anyone calling the market does not show)."""
        return self._cached("deal_table", self._build_deal_table)

    def closed_deals(self) -> list[dict]:
        """The rows of `deal_table()` that were accepted and closed (a provider, an outcome, a closing time), in
        its order, as records of the columns a reputation scores: client, provider, status_at_acceptance, scheme,
        validator, verdict, outcome, reason, closed_time. Built from the kept rows without pandas: the market
        model rescores reputations every few steps, and merging the whole deal table each time cost more than
        the rest of a small market's step. The tests check it against the table."""
        if "closed_deals" not in self._frames:
            self._frames["closed_deals"] = closed_deal_records(self._rows)
        return self._frames["closed_deals"]

    def _build_deal_table(self) -> pd.DataFrame:
        requests, deals, closures = self.requests, self.deals, self.closures
        first_seen = pd.concat([frame[["deal_id", "block"]] for frame in (requests, deals, closures)])
        first_block = first_seen.groupby("deal_id", sort=False)["block"].min().sort_values(kind="stable")
        table = first_block.reset_index()[["deal_id"]]

        requested = requests.drop_duplicates("deal_id").rename(
            columns={"time": "requested_time", "client": "request_client"}
        )
        table = table.merge(
            requested[["deal_id", "request_client", "token", "scheme", "validator", "max_price", "requested_time"]],
            on="deal_id", how="left",
        )
        offers = self.offers
        counts = offers.groupby("deal_id").agg(offers=("offer_hash", "size"), counter_offers=("counter", "sum"))
        table = table.merge(counts, left_on="deal_id", right_index=True, how="left")
        # Counts: a deal nobody offered on has 0 of each (the merge leaves NaN, or object columns when empty).
        table[["offers", "counter_offers"]] = table[["offers", "counter_offers"]].astype(float).fillna(0).astype(int)
        accepted = deals.rename(columns={"time": "accepted_time"})[
            ["deal_id", "client", "provider", "price", "collateral", "status_at_acceptance", "accepted_time"]
        ]
        table = table.merge(accepted, on="deal_id", how="left")
        table["client"] = table["client"].where(table["client"].notna(), table["request_client"])
        funded = self.fundings.groupby("deal_id")["time"].min().rename("funded_time")
        table = table.merge(funded, left_on="deal_id", right_index=True, how="left")

        attestations = self.attestations
        for schema, column in (("commencement", "commenced_time"), ("completion", "completed_time")):
            stage = attestations[attestations["schema"] == schema].groupby("deal_id")["time"].min().rename(column)
            table = table.merge(stage, left_on="deal_id", right_index=True, how="left")
        judged = self.verdicts.drop_duplicates("deal_id").rename(columns={"time": "judged_time", "approved": "verdict"})
        table = table.merge(judged[["deal_id", "judged_time", "verdict"]], on="deal_id", how="left")
        disputed = self.disputes.drop_duplicates("deal_id")
        disputed = disputed.rename(columns={"time": "disputed_time", "message": "dispute"})
        table = table.merge(disputed[["deal_id", "disputed_time", "dispute"]], on="deal_id", how="left")
        # The validation that decided the deal: the last one (a verdict may be followed by the court's ruling).
        validations = attestations[attestations["schema"] == "validation"].drop_duplicates("deal_id", keep="last")
        validations = validations.rename(columns={"time": "validated_time", "attester": "validation_attester"})
        table = table.merge(
            validations[["deal_id", "validated_time", "validation_attester", "approved"]], on="deal_id", how="left"
        )
        closed = closures.drop_duplicates("deal_id").rename(columns={"time": "closed_time"})
        table = table.merge(closed[["deal_id", "outcome", "reason", "closed_time"]], on="deal_id", how="left")

        table["status"] = [_latest_status(row) for row in table.itertuples(index=False)]
        table["time_to_agreement"] = table["accepted_time"] - table["requested_time"]
        for column in _NULLABLE_INT_COLUMNS:
            table[column] = table[column].astype("Int64")
        # Missing values of object columns (parties, amounts, names) are None rather than a float NaN.
        for column in table.columns[table.dtypes == object]:
            table[column] = table[column].astype(object).where(table[column].notna(), None)
        return table[DEAL_TABLE_COLUMNS]


def _latest_status(row) -> str:
    if isinstance(row.outcome, str):
        return row.outcome
    if pd.notna(row.disputed_time):
        return Status.DISPUTED.name
    if pd.notna(row.judged_time):
        return Status.JUDGED.name
    if pd.notna(row.completed_time):
        return Status.COMPLETED.name
    if pd.notna(row.commenced_time):
        return Status.COMMENCED.name
    if pd.notna(row.funded_time):
        return Status.AGREED.name
    if isinstance(row.status_at_acceptance, str):
        return row.status_at_acceptance
    return Status.NONE.name


__all__ = ["ChainHistory", "to_hex32"]
