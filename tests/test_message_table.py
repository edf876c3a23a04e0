"""The scheme's message table (agents.chain.scheme.MESSAGES) against the contracts' ABIs: every message has
one way onto the chain and one way back, and the transactions built from it carry what the market expects."""

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from agents.chain.abi import eas_abi, project_abi
from agents.chain.codec import ContractCodec, abi_type
from agents.chain.scheme import MARKET_EVENTS, MESSAGES, MarketCalls, Schema, message_from_event
from agents.policy import Reply
from agents.protocol import SCHEME, CloseReason, Domain, Offer, Performative, Request, Status, ValidationScheme
from agents.testing.market_client import DealFacts

MARKET = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
EAS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CLIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PROVIDER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
VALIDATOR = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
DEAL = b"\xde" * 32
COMMENCEMENT, COMPLETION, VERDICT = b"\xc0" * 32, b"\xc1" * 32, b"\xc2" * 32
ZERO = b"\x00" * 32
UIDS = {schema: bytes([i + 1]) * 32 for i, schema in enumerate(Schema)}


def _functions(abi) -> dict[str, list[str]]:
    return {e["name"]: [abi_type(p) for p in e["inputs"]] for e in abi if e["type"] == "function"}


def test_every_message_has_one_way_on_chain_and_one_way_back():
    market_functions = _functions(project_abi("ComputeMarket"))
    market_events = {e["name"] for e in project_abi("ComputeMarket") if e["type"] == "event"}
    assert set(MESSAGES) == set(Performative) == {t.message for t in SCHEME}
    for performative, spec in MESSAGES.items():
        assert (spec.function is None) != (spec.schema is None), performative
        assert spec.function is None or spec.function in market_functions, performative
        assert spec.event in market_events and (spec.event == "Closed") == bool(spec.close_reasons), performative
    assert set(MARKET_EVENTS) <= market_events
    reasons = [reason for spec in MESSAGES.values() for reason in spec.close_reasons]
    assert sorted(reasons) == list(CloseReason)  # each way of closing is exactly one message
    schemas = {spec.schema for spec in MESSAGES.values() if spec.schema}
    assert schemas == set(Schema)
    assert {s.uid_view for s in Schema} <= set(market_functions)


def _calls() -> MarketCalls:
    return MarketCalls(
        domain=Domain(31337, MARKET), eas=EAS, token=TOKEN, schema_uids=UIDS,
        market_codec=ContractCodec(project_abi("ComputeMarket")), eas_codec=ContractCodec(eas_abi("EAS")),
        token_codec=ContractCodec(project_abi("TestToken")),
    )


def _deal(verdict_uid: bytes | None = None) -> DealFacts:
    request = Request(CLIENT, TOKEN, 10, 1, 1_000, 60, 60, 60, ValidationScheme.VALIDATOR, VALIDATOR, 3, 5,
                      b"\x11" * 32, 1)
    return DealFacts(request=request, client=CLIENT, provider=PROVIDER, commencement_uid=COMMENCEMENT,
                     completion_uid=COMPLETION, verdict_uid=verdict_uid)


OFFER = Offer(DEAL, PROVIDER, 9, 1, 500, 0)
SIGNATURE = b"\x5a" * 65
# performative -> (the reply, the deal's verdict uid, the market function and the arguments it must carry)
FUNCTION_CALLS = {
    Performative.REQUEST: (Reply(Performative.REQUEST, DEAL, request=_deal().request, spec_uri="file:///s",
                                 invited=(PROVIDER,)), None,
                           "request", (_deal().request, "file:///s", [PROVIDER])),
    Performative.CANCEL_REQUEST: (Reply(Performative.CANCEL_REQUEST, DEAL), None, "cancelRequest", (_deal().request,)),
    Performative.OFFER: (Reply(Performative.OFFER, DEAL, offer=OFFER), None, "offer", (OFFER, SIGNATURE)),
    Performative.CANCEL_OFFER: (Reply(Performative.CANCEL_OFFER, DEAL, offer=OFFER), None, "cancelOffer", (OFFER,)),
    Performative.ACCEPT: (Reply(Performative.ACCEPT, DEAL, offer=OFFER, signature=SIGNATURE), None, "acceptFunded",
                          (_deal().request, OFFER, SIGNATURE)),
    Performative.DISPUTE: (Reply(Performative.DISPUTE, DEAL), None, "dispute", (_deal().request,)),
    **{p: (Reply(p, DEAL), None, f, (DEAL,)) for p, f in (
        (Performative.FUND, "fund"), (Performative.COLLATERAL_MISSING, "collateralMissing"),
        (Performative.APPEAL, "appeal"), (Performative.ESCALATE, "escalate"), (Performative.SETTLE, "settle"),
        (Performative.CLAIM_TIMEOUT, "claimTimeout"), (Performative.ABORT, "abort"))},
}
# (reply, the deal's verdict uid) -> (schema, recipient, reference, schema values)
ATTESTATIONS = [
    (Reply(Performative.COMMENCE, DEAL), None, Schema.COMMENCEMENT, CLIENT, ZERO, (DEAL,)),
    (Reply(Performative.COMPLETE, DEAL, result_hash=b"\x7e" * 32, result_uri="ipfs://x"), None, Schema.COMPLETION,
     CLIENT, COMMENCEMENT, (DEAL, b"\x7e" * 32, "ipfs://x")),
    (Reply(Performative.APPROVE, DEAL), None, Schema.VALIDATION, PROVIDER, COMPLETION, (DEAL, True)),
    (Reply(Performative.VERDICT, DEAL, approved=True), None, Schema.VALIDATION, PROVIDER, COMPLETION, (DEAL, True)),
    (Reply(Performative.VERDICT, DEAL, approved=False), None, Schema.VALIDATION, PROVIDER, COMPLETION,
     (DEAL, False)),
    # The court rules on the deal's latest attestation: the appealed verdict, or the completion when the client
    # disputed an optimistic deal or a silent validator's deal was escalated.
    (Reply(Performative.RULING, DEAL, approved=False), VERDICT, Schema.VALIDATION, PROVIDER, VERDICT,
     (DEAL, False)),
    (Reply(Performative.RULING, DEAL, approved=True), None, Schema.VALIDATION, PROVIDER, COMPLETION, (DEAL, True)),
]


def test_every_message_is_encoded_as_the_market_expects():
    calls = _calls()
    functions = _functions(project_abi("ComputeMarket"))
    attested = {reply.performative for reply, *_ in ATTESTATIONS}
    assert set(FUNCTION_CALLS) | attested == set(Performative) and not set(FUNCTION_CALLS) & attested
    for performative, (reply, verdict_uid, function, expected) in FUNCTION_CALLS.items():
        sent = calls.message(reply, _deal(verdict_uid), lambda digest: SIGNATURE)
        assert (sent.to, sent.kind, sent.gas) == (MARKET, performative.value, MESSAGES[performative].gas)
        assert sent.data[:4] == keccak(text=f"{function}({','.join(functions[function])})")[:4], performative
        decoded = decode(functions[function], sent.data[4:])
        assert [_terms(value, like) for value, like in zip(decoded, expected)] == list(expected), performative
    attest_types = _functions(eas_abi("EAS"))["attest"]
    for reply, verdict_uid, schema, recipient, ref, values in ATTESTATIONS:
        sent = calls.message(reply, _deal(verdict_uid), None)
        assert (sent.to, sent.kind, sent.deal_id) == (EAS, reply.performative.value, DEAL)
        ((schema_uid, (to, expiry, revocable, reference, data, value)),) = decode(attest_types, sent.data[4:])
        assert (schema_uid, to_checksum_address(to), expiry, revocable, reference, value) == (
            UIDS[schema], recipient, 0, False, ref, 0), reply
        assert decode(schema.types, data) == values, reply


def _terms(decoded, like):
    """A decoded argument in the form of the expected one (terms as dataclasses, addresses checksummed)."""
    if isinstance(like, (Request, Offer)):
        return type(like).from_tuple(decoded)
    if isinstance(like, list):
        return [to_checksum_address(item) for item in decoded]
    return decoded


def test_offers_are_signed_by_the_sender_and_gas_follows_the_result_uri():
    calls, deal = _calls(), _deal()
    signed = calls.message(Reply(Performative.OFFER, DEAL, offer=OFFER), deal, lambda digest: SIGNATURE)
    assert decode(_functions(project_abi("ComputeMarket"))["offer"], signed.data[4:])[1] == SIGNATURE

    request = calls.message(Reply(Performative.REQUEST, DEAL, request=deal.request, spec_uri="file:///s"), None, None)
    assert request.deal_id is None  # recorded once the Requested event names the deal

    short, long_ = (calls.message(Reply(Performative.COMPLETE, DEAL, result_hash=b"\x7e" * 32, result_uri=uri), deal,
                                  None) for uri in ("ipfs://x", "ipfs://" + "x" * 100))
    assert long_.gas - short.gas == 3 * MESSAGES[Performative.COMPLETE].gas_per_uri_word  # 4 words against 1


def test_events_decode_to_the_messages_of_the_table():
    log = {"blockNumber": "0x10", "logIndex": "0x2", "blockTimestamp": "0x64"}
    for reason in (CloseReason.COMMENCEMENT_TIMEOUT, CloseReason.COMPLETION_TIMEOUT):
        message = message_from_event("Closed", {"dealId": DEAL, "outcome": 8, "reason": int(reason)}, log, 1.0)
        assert (message.performative, message.deal_id, message.sender) == (Performative.CLAIM_TIMEOUT, DEAL, None)
        assert (message.block, message.time, message.log_key) == (16, 100, (16, 2))
    offered = message_from_event("Offered", {"dealId": DEAL, "signer": PROVIDER}, log, 1.0)
    assert (offered.performative, offered.sender) == (Performative.OFFER, PROVIDER)
    assert message_from_event("Deposited", {"token": TOKEN, "account": CLIENT, "amount": 1}, log, 1.0) is None


# (event, its arguments) -> (the message, who sent it, the deal's status after it)
JUDGEMENT_EVENTS = [
    ("Judged", {"attestation": VERDICT, "approved": False}, Performative.VERDICT, None, Status.JUDGED),
    ("Disputed", {"client": CLIENT, "bond": 5, "deadline": 9}, Performative.DISPUTE, CLIENT, Status.DISPUTED),
    ("Appealed", {"appellant": PROVIDER, "bond": 5, "deadline": 9}, Performative.APPEAL, PROVIDER, Status.DISPUTED),
    ("Escalated", {"deadline": 9}, Performative.ESCALATE, None, Status.DISPUTED),
    *[("Closed", {"outcome": int(outcome), "reason": int(reason)}, performative, None, outcome)
      for reason, outcome, performative in (
          (CloseReason.VERDICT_APPROVED, Status.SETTLED, Performative.SETTLE),
          (CloseReason.VERDICT_REJECTED, Status.SLASHED, Performative.SETTLE),
          (CloseReason.COURT_APPROVED, Status.SETTLED, Performative.RULING),
          (CloseReason.COURT_REJECTED, Status.SLASHED, Performative.RULING),
          (CloseReason.COURT_TIMEOUT, Status.UNWOUND, Performative.CLAIM_TIMEOUT))],
]


def test_judgement_events_decode_to_their_messages():
    log = {"blockNumber": "0x10", "logIndex": "0x2", "blockTimestamp": "0x64"}
    for name, args, performative, sender, status in JUDGEMENT_EVENTS:
        message = message_from_event(name, {"dealId": DEAL, **args}, log, 1.0)
        assert (message.performative, message.deal_id, message.sender, message.status) == (
            performative, DEAL, sender, status), (name, args)
