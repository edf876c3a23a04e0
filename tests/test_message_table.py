"""The scheme's message table (agents.chain.scheme.MESSAGES) against the contracts' ABIs: every message has
one way onto the chain and one way back, and the transactions built from it carry what the market expects."""

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from agents.chain.abi import eas_abi, project_abi
from agents.chain.codec import ContractCodec, abi_type
from agents.chain.scheme import MARKET_EVENTS, MESSAGES, MarketCalls, Schema, message_from_event
from agents.policy import Dialogue, Reply, Role
from agents.protocol import SCHEME, CloseReason, Domain, Offer, Performative, Request, ValidationScheme

MARKET = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
EAS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CLIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PROVIDER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
DEAL = b"\xde" * 32
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


def _deal() -> Dialogue:
    request = Request(CLIENT, TOKEN, 10, 1, 1_000, 60, 60, 60, ValidationScheme.OPTIMISTIC, "0x" + "00" * 20,
                      b"\x11" * 32, 1)
    return Dialogue(DEAL, Role.PROVIDER, Domain(31337, MARKET), request=request, provider=PROVIDER,
                    commencement_uid=b"\xc0" * 32, completion_uid=b"\xc1" * 32)


def test_transactions_carry_what_the_market_expects():
    calls, deal = _calls(), _deal()
    functions = _functions(project_abi("ComputeMarket"))
    offer = Offer(DEAL, PROVIDER, 9, 1, 500, 0)
    signature = b"\x5a" * 65
    sent = calls.message(Reply(Performative.OFFER, DEAL, offer=offer), deal, lambda digest: signature)
    assert (sent.to, sent.kind, sent.deal_id, sent.gas) == (MARKET, "offer", DEAL, MESSAGES[Performative.OFFER].gas)
    assert sent.data[:4] == keccak(text=f"offer({','.join(functions['offer'])})")[:4]
    decoded_offer, decoded_signature = decode(functions["offer"], sent.data[4:])
    assert Offer.from_tuple(decoded_offer) == offer and decoded_signature == signature  # signed by the sender

    request = calls.message(Reply(Performative.REQUEST, DEAL, request=deal.request, spec_uri="file:///s"), None, None)
    assert request.deal_id is None  # recorded once the Requested event names the deal

    short, long_ = (calls.message(Reply(Performative.COMPLETE, DEAL, result_hash=b"\x7e" * 32, result_uri=uri), deal,
                                  None) for uri in ("ipfs://x", "ipfs://" + "x" * 100))
    assert short.to == EAS and short.kind == "complete"
    assert long_.gas - short.gas == 3 * MESSAGES[Performative.COMPLETE].gas_per_uri_word  # 4 words against 1
    attest_types = _functions(eas_abi("EAS"))["attest"]
    ((schema, (recipient, expiry, revocable, ref, data, value)),) = decode(attest_types, short.data[4:])
    assert (schema, to_checksum_address(recipient), expiry, revocable, ref, value) == (
        UIDS[Schema.COMPLETION], CLIENT, 0, False, deal.commencement_uid, 0)
    assert decode(Schema.COMPLETION.types, data) == (DEAL, b"\x7e" * 32, "ipfs://x")

    for performative, approved in ((Performative.APPROVE, True), (Performative.REJECT, False)):
        verdict = calls.message(Reply(performative, DEAL), deal, None)
        ((schema, (recipient, _, _, ref, data, _)),) = decode(attest_types, verdict.data[4:])
        assert (schema, to_checksum_address(recipient), ref) == (UIDS[Schema.VALIDATION], PROVIDER, deal.completion_uid)
        assert decode(Schema.VALIDATION.types, data) == (DEAL, approved)


def test_events_decode_to_the_messages_of_the_table():
    log = {"blockNumber": "0x10", "logIndex": "0x2", "blockTimestamp": "0x64"}
    for reason in (CloseReason.COMMENCEMENT_TIMEOUT, CloseReason.COMPLETION_TIMEOUT):
        message = message_from_event("Closed", {"dealId": DEAL, "outcome": 8, "reason": int(reason)}, log, 1.0)
        assert (message.performative, message.deal_id, message.sender) == (Performative.CLAIM_TIMEOUT, DEAL, None)
        assert (message.block, message.time, message.log_key) == (16, 100, (16, 2))
    offered = message_from_event("Offered", {"dealId": DEAL, "signer": PROVIDER}, log, 1.0)
    assert (offered.performative, offered.sender) == (Performative.OFFER, PROVIDER)
    assert message_from_event("Deposited", {"token": TOKEN, "account": CLIENT, "amount": 1}, log, 1.0) is None
