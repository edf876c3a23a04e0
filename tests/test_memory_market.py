"""The memory market (agents.memory) against the deployed contracts, call for call.

The scheme's state machine (tests/test_scheme_state_machine.py) already sends every message of the scheme from
random accounts, wrong senders, references, recipients and times included, deadlines hit exactly and one second
past. `DifferentialMachine` runs that machine unchanged, and sends each of its calls to a `MemoryChain` as
well, at the same second (anvil's next block time and the memory clock are set together: attestation UIDs,
which hash the time, and deadlines would differ otherwise). After every call:
the same success or the same named error with the same arguments; the same events (market, EAS and token, name
and decoded arguments, in log order); and the same escrow (the market's token balance, what it owes, every
account's available balance and wallet) and the same stored deal, every field, for each deal the call names.
After every step every deal is compared again (a deal changes only through a call that names it, so this
checks the first comparison's premise).

It adds what the scheme machine does not send: malformed and malleable signatures, attestations EAS itself
refuses (expiring, revocable, unknown schema, a reference to nothing, value for a resolver that takes none,
undecodable data), requests with a bad term, acceptances whose pull from the caller's wallet fails (balance or
allowance short) after the contract wrote the deal, `acceptFunded`, `withdrawTo`, and tokens sent to the market
directly and skimmed.

CI runs both sweeps and a few derandomized examples (MEMORY_MARKET_EXAMPLES, default 3), about 90 s;
MEMORY_MARKET_EXAMPLES=200 MEMORY_MARKET_RANDOM=1 explores with fresh random examples.
"""

from __future__ import annotations

import copy
import itertools
import os
from collections import Counter
from dataclasses import replace

import test_scheme_state_machine as scheme_machine
from conftest import SPEC_HASH, ZERO_ADDRESS, ZERO_BYTES32
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule, run_state_machine_as_test
from test_scheme_state_machine import (
    ACTORS,
    COURT_WINDOW,
    SENDERS,
    WINDOWS,
    Env,
    ModelOffer,
    SchemeMachine,
    resolve,
)

from agents.chain.abi import eas_abi, project_abi
from agents.chain.codec import ContractCodec
from agents.chain.scheme import Schema
from agents.memory import MemoryChain, Revert
from agents.memory.signatures import SECP256K1_N
from agents.protocol import CloseReason, Offer, Performative, Request, Status, ValidationScheme, typed_hash

RANDOM = bool(os.environ.get("MEMORY_MARKET_RANDOM"))
MEMORY_MARKET_SETTINGS = settings(
    max_examples=int(os.environ.get("MEMORY_MARKET_EXAMPLES", 3)),
    stateful_step_count=40,
    derandomize=not RANDOM,
    phases=[p for p in Phase if p != Phase.shrink or not os.environ.get("MEMORY_MARKET_NO_SHRINK")],
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
ADDRESS_FIELDS = ("client", "provider", "token", "validator")  # the chain reader leaves them lower case
# What the memory market did over the whole run: "event NAME", "closed REASON", "error NAME" and the court's
# rulings by how the deal got there; the test fails unless each of MEMORY_REQUIRED occurred.
MEMORY_OUTCOMES: Counter[str] = Counter()
MEMORY_REQUIRED = (
    *(f"closed {reason.name}" for reason in CloseReason),
    *(f"event {name}" for name in ("Requested", "Offered", "OfferCancelled", "Accepted", "Funded", "Commenced",
                                   "Completed", "Judged", "Disputed", "Appealed", "Escalated", "Deposited",
                                   "Withdrawn", "Skimmed", "Attested", "Transfer", "Approval")),
    *(f"error {name}" for name in ("InvalidSignature", "UnfundedCounterparty", "InvalidSchema", "InvalidExpirationTime",
                                   "Irrevocable", "NotFound", "NotPayable", "AttestationMustNotExpire", "NothingToSkim",
                                   "revert without data", "InsufficientBalance", "ZeroAmount", "OfferIsCancelled",
                                   "InvalidDuration", "InvalidValidationScheme", "SelfDeal", "ZeroSpecHash",
                                   "NotAToken", "InvalidDeadline", "RequestExpired", "ERC20InsufficientBalance",
                                   "ERC20InsufficientAllowance")),
    # `_rule`'s six ways to pay with a validator (its verdict confirmed or overruled, after an appeal by either
    # party or an escalation) and the optimistic dispute's two
    *(f"ruling {how} -> {ruling}" for how in ("approved, appealed", "rejected, appealed", "silent, escalated",
                                              "disputed") for ruling in ("approved", "rejected")),
)
PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]
# The faults of the rules below that the scheme machine does not make.
BAD_TERMS = ("zero max price", "zero duration", "zero bond", "scheme without validator", "validator without scheme",
             "fee without validator", "client validates", "court validates", "court requests", "zero spec",
             "not a token", "EAS as token", "deadline passed")
BAD_SIGNATURES = ("short", "long", "v", "high s", "zero r", "other offer")
REFUSED_ATTESTATIONS = ("expiring", "expired", "revocable", "unknown schema", "dangling reference", "value",
                        "short data", "bad bool")


def chain_form(error: Revert | None):
    """A memory revert as `Transactor` reports the chain's: (name, inputs), or the raw revert data in hex for
    a revert no ABI names (none, or a panic)."""
    if error is None:
        return None
    if error.name == "":
        return ("0x", {})
    if error.name == "Panic":
        return ("0x" + (PANIC_SELECTOR + abi_encode(["uint256"], [error.args_by_name["code"]])).hex(), {})
    return (error.name, error.args_by_name)


class Codecs:
    """Decodes a receipt's logs of the market, EAS and the token, as (emitter, name, args)."""

    def __init__(self, env: Env):
        self.by_address = {
            env.market.address: ContractCodec(project_abi("ComputeMarket")),
            env.eas.address: ContractCodec(eas_abi("EAS")),
            env.token.address: ContractCodec(project_abi("TestToken")),
        }

    def events(self, receipt) -> list[tuple]:
        events = []
        for log in receipt["logs"]:
            codec = self.by_address.get(log["address"])
            assert codec is not None, f"a log of an unexpected contract {log['address']}"
            raw = {"topics": [bytes(t).hex() for t in log["topics"]], "data": bytes(log["data"]).hex()}
            raw = {"topics": ["0x" + t for t in raw["topics"]], "data": "0x" + raw["data"]}
            events.append((log["address"], *codec.decode_log(raw)))
        return events


class DifferentialMachine(SchemeMachine):
    """The scheme machine, every call of which also goes to a memory market and must come out the same."""

    def __init__(self):
        super().__init__()
        env, model = self.env, self.model
        self.codecs = Codecs(env)
        # The scheme machine's own check reads the chain after every step: the comparison reuses that read.
        self._read, self.reader.read = self.reader.read, self._read_and_remember
        self.addresses = {actor: account.address for actor, account in env.accounts.items()}
        self.memory = MemoryChain(court=self.addresses["court"], court_window=COURT_WINDOW,
                                  chain_id=env.domain.chain_id, market=env.market.address, eas=env.eas.address,
                                  tokens=(env.token.address,), now=model.now)
        # The memory chain starts where the snapshot does: every actor's wallet, an empty escrow, unlimited
        # allowances to the market (set by the test below).
        held, owed, *_ = self.reader.read([])
        assert held == owed == 0 and not any(model.available.values()), "the differential test needs a new market"
        for actor, address in self.addresses.items():
            self.memory.tokens.mint(env.token.address, address, model.wallet[actor])
            self.memory.tokens.approve(address, env.token.address, env.market.address, 2**256 - 1)

    @invariant()
    def chain_agrees_with_model(self):
        """After each step (and each case of the sweep): the scheme machine's own check, and every deal the same
        in memory as on chain."""
        super().chain_agrees_with_model()  # reads every deal the model knows, which includes every stored one
        deal_ids, chain_state = self.last_read
        assert set(self.memory.market.deal_ids()) <= set(deal_ids)
        self.compare_state(deal_ids, chain_state=chain_state)

    # every call, both ways

    def _send(self, method, *args, sender: str):
        self.memory.now = self.model.now
        memory_events, memory_error = self._memory_call(method, args, self.addresses[sender])
        self.env.chain.provider.make_request("evm_setNextBlockTimestamp", [self.model.now])
        receipt, chain_error = self.env.transactor.send(method, *args, sender=self.env.accounts[sender])
        call = f"{method.abis[0].name} by {sender} at {self.model.now}"
        assert chain_form(memory_error) == chain_error, (
            f"{call}: memory {chain_form(memory_error) or 'success'}, chain {chain_error or 'success'}")
        self._count(memory_events, memory_error)
        memory_events = [(e.emitter, e.name, e.args) for e in memory_events]
        assert memory_events == self.codecs.events(receipt), f"{call}: events differ"
        self.compare_state(self._deals_named(method, args), after=call)
        return receipt, (chain_error[0] if chain_error else None)

    @staticmethod
    def _count(events, error: Revert | None):
        if error is not None:
            MEMORY_OUTCOMES[f"error {error.name or 'revert without data'}"] += 1
        for e in events:
            MEMORY_OUTCOMES[f"event {e.name}"] += 1
            if e.name == "Closed":
                MEMORY_OUTCOMES[f"closed {CloseReason(e.args['reason']).name}"] += 1

    def _memory_call(self, method, args, sender: str):
        memory, env = self.memory, self.env
        name, contract = method.abis[0].name, method.contract.address
        try:
            if contract == env.eas.address:
                schema, (recipient, expiration, revocable, ref, data, value) = args[0]
                _, events = memory.eas.attest(sender, schema, recipient, expiration_time=expiration,
                                              revocable=revocable, ref_uid=ref, data=data, value=value)
            elif contract == env.token.address:
                call = {"transfer": memory.tokens.send, "approve": memory.tokens.approve}[name]
                events = call(sender, contract, *args)
            else:
                events = self._market_call(name, args, sender)
        except Revert as error:
            return [], error
        return events, None

    def _market_call(self, name: str, args: tuple, sender: str) -> list:
        market = self.memory.market
        if name in ("accept", "acceptFunded"):
            req, terms, signature = args
            call = market.accept if name == "accept" else market.accept_funded
            return call(sender, Request.from_tuple(req), Offer.from_tuple(terms), signature)
        if name in ("request", "cancelRequest", "dispute"):
            call = {"request": market.request, "cancelRequest": market.cancel_request, "dispute": market.dispute}
            return call[name](sender, Request.from_tuple(args[0]), *args[1:])
        if name in ("offer", "cancelOffer"):
            call = market.offer if name == "offer" else market.cancel_offer
            return call(sender, Offer.from_tuple(args[0]), *args[1:])
        call = {
            "fund": market.fund, "collateralMissing": market.collateral_missing, "settle": market.settle,
            "claimTimeout": market.claim_timeout, "appeal": market.appeal, "escalate": market.escalate,
            "abort": market.abort, "deposit": market.deposit, "withdraw": market.withdraw,
            "withdrawTo": market.withdraw_to, "skim": market.skim,
        }[name]
        return call(sender, *args)

    def _deals_named(self, method, args) -> set[bytes]:
        """The deals a call names: only they can have changed."""
        name, market = method.abis[0].name, self.memory.market
        if name == "attest":
            data = args[0][1][4]
            return {bytes(data[:32])} if len(data) >= 32 else set()
        if name in ("request", "cancelRequest", "dispute", "accept", "acceptFunded"):
            return {market.hash_request(Request.from_tuple(args[0]))}
        if name in ("fund", "collateralMissing", "settle", "claimTimeout", "appeal", "escalate", "abort"):
            return {bytes(args[0])}
        return set()

    def _read_and_remember(self, deal_ids):
        self.last_read = (list(deal_ids), self._read(deal_ids))
        return self.last_read[1]

    def compare_state(self, deal_ids, after: str = "the step", chain_state=None):
        """Memory against chain (left against right in a failure): the market's token balance and what it owes,
        every actor's escrow account and wallet, and the stored deals `deal_ids`."""
        held, owed, available, wallet, deals = chain_state or self._read(list(deal_ids))
        memory, token, market = self.memory, self.env.token.address, self.env.market.address
        assert (memory.tokens.balance_of(token, market), memory.escrow.total_owed(token)) == (held, owed), (
            f"after {after}: the escrow's (held, owed) differ")
        assert {a: memory.escrow.available(token, address) for a, address in self.addresses.items()} == available, (
            f"after {after}: escrow accounts differ")
        assert {a: memory.tokens.balance_of(token, address) for a, address in self.addresses.items()} == wallet, (
            f"after {after}: wallets differ")
        for deal_id in deal_ids:
            chain_deal = {k: to_checksum_address(v) if k in ADDRESS_FIELDS else v for k, v in deals[deal_id].items()}
            assert memory.market.get_deal(deal_id).as_struct() == chain_deal, (
                f"after {after}: deal {deal_id.hex()[:8]} differs")

    # what the scheme machine does not send

    @rule(o=SchemeMachine.offers, how=st.sampled_from(BAD_SIGNATURES), accept=st.booleans())
    def bad_signature(self, o: ModelOffer, how: str, accept: bool):
        """An offer broadcast or accepted with a signature the market must refuse: cut short, too long, a v other
        than 27 or 28, the malleable twin (n - s, v flipped: ecrecover takes it, OpenZeppelin does not), r = 0, or
        the signer's signature of other terms."""
        signature, terms = o.signature, o.offer
        r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
        signature = {
            "short": signature[:64], "long": signature + b"\x00", "v": r + signature[32:64] + bytes([v + 2]),
            "high s": r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v]),
            "zero r": b"\x00" * 32 + signature[32:],
            "other offer": self.env.clients[o.signer].sign(replace(terms, round=terms.round + 1)),
        }[how]
        bad = ModelOffer(terms, "nobody", signature, o.offer_hash)  # no actor signed it: the model expects a refusal
        if accept:
            self._accept(bad, "client" if o.signer == "provider" else "provider")
        else:
            d = self.model.deals[terms.deal_id]
            self._deal_message(Performative.OFFER, terms.deal_id, o.signer, lambda: self.model.offer(d, bad, o.signer),
                               self.env.market.offer, terms.as_tuple(), signature, in_table=False)

    @rule(deal_id=SchemeMachine.requests, sender=st.sampled_from(ACTORS),
          fault=st.sampled_from(REFUSED_ATTESTATIONS),
          schema=st.sampled_from(list(Schema)))
    def refused_attestation(self, deal_id, sender, fault, schema):
        """An attestation EAS refuses before the market sees it, or that the market refuses whatever its deal."""
        values = {Schema.COMMENCEMENT: (deal_id,), Schema.COMPLETION: (deal_id, SPEC_HASH, "r"),
                  Schema.VALIDATION: (deal_id, True)}[schema]
        data = schema.encode(values)
        uid = self.memory.market.schema_uids[schema]
        recipient, expiration, revocable, ref, value = self.addresses["client"], 0, False, ZERO_BYTES32, 0
        if fault == "expiring":
            expiration = self.model.now + 100
        elif fault == "expired":
            expiration = self.model.now
        elif fault == "revocable":
            revocable = True
        elif fault == "unknown schema":
            uid = keccak(text="no such schema")
        elif fault == "dangling reference":
            ref = keccak(text="no such attestation")
        elif fault == "value":
            value = 1
        elif fault == "short data":
            data = data[:31]
        elif fault == "bad bool":
            data = (deal_id + (2).to_bytes(32, "big")) if schema == Schema.VALIDATION else data[:31]
        request = (uid, (recipient, expiration, revocable, ref, data, value))
        _, error = self._send(self.env.eas.attest, request, sender=sender)
        assert error is not None, f"{fault} attestation went through"

    @rule(verdict=st.sampled_from(("approved", "rejected", "silent", "none")), approved=st.booleans(),
          window=WINDOWS)
    def court_rules(self, verdict, approved, window):
        """A deal before the court rules either way: an optimistic one disputed (verdict "none"), a validator's
        whose verdict the party it went against appealed, or a silent validator's escalated."""
        validator_scheme = verdict != "none"
        d = self._bring_to(Status.DISPUTED, validator_scheme, window, approved=verdict == "approved",
                           silent=verdict == "silent")
        if d is None:
            return
        how = {"approved": "approved, appealed", "rejected": "rejected, appealed", "silent": "silent, escalated",
               "none": "disputed"}[verdict]
        if self._validate("ruling", self._deal_id(d), "court", approved, True, "right") is None:
            MEMORY_OUTCOMES[f"ruling {how} -> {'approved' if approved else 'rejected'}"] += 1

    @rule(fault=st.sampled_from(BAD_TERMS), accept=st.booleans())
    def bad_terms(self, fault, accept):
        """A request with one term the market refuses (_checkTerms, and its deadline), broadcast or accepted."""
        env, actors = self.env, self.addresses
        terms = dict(client=actors["client"], token=env.token.address, max_price=100, min_collateral=10,
                     offer_deadline=self.model.now + 100, commence_within=60, job_duration=60, validation_window=60,
                     scheme=ValidationScheme.VALIDATOR, validator=actors["validator"], validator_fee=5, bond=10,
                     spec_hash=SPEC_HASH, nonce=next(self._nonces))
        terms.update({
            "zero max price": {"max_price": 0}, "zero duration": {"job_duration": 0}, "zero bond": {"bond": 0},
            "scheme without validator": {"validator": ZERO_ADDRESS, "validator_fee": 0},
            "validator without scheme": {"scheme": ValidationScheme.OPTIMISTIC},
            "fee without validator": {"scheme": ValidationScheme.OPTIMISTIC, "validator": ZERO_ADDRESS},
            "client validates": {"validator": actors["client"]}, "court validates": {"validator": actors["court"]},
            "court requests": {"client": actors["court"]}, "zero spec": {"spec_hash": ZERO_BYTES32},
            "not a token": {"token": actors["stranger"]}, "EAS as token": {"token": env.eas.address},
            "deadline passed": {"offer_deadline": self.model.now - accept},
        }[fault])
        req = Request(**terms)
        sender = "court" if fault == "court requests" else "client"
        if accept:
            offer = Offer(typed_hash(env.domain, req), actors["provider"], 50, 10, self.model.now + 100, 0)
            call = (env.market.accept, req.as_tuple(), offer.as_tuple(), env.clients["provider"].sign(offer))
        else:
            call = (env.market.request, req.as_tuple(), "spec", [])
        _, error = self._send(*call, sender=sender)
        # A contract that is no token passes the market's check (it has code): only the pull fails, without data.
        assert error is not None or (fault == "EAS as token" and not accept), f"a request with {fault} went through"

    @rule(who=st.sampled_from(("client", "provider")), short=st.sampled_from(("balance", "allowance")),
          validator_scheme=st.booleans())
    def short_wallet(self, who, short, validator_scheme):
        """An acceptance whose last step, the pull of the caller's side from its wallet, fails for want of balance
        or of allowance, after the contract has written the deal and locked the signer's side and the validator's
        stake: all of it must be undone."""
        deal_id = self._fresh_deal(validator_scheme, window=60)
        d, signer = self.model.deals[deal_id], "provider" if who == "client" else "client"
        o = self._offer(deal_id, signer, signer, d.request.max_price, d.request.min_collateral, self.model.now + 60)
        self._stake(d)
        if self.model.available[who]:
            self._withdraw_all(who)  # so that the caller's whole side is to be pulled
        token, market, wallet = self.env.token, self.env.market, self.model.wallet
        stash = wallet[who]
        if short == "balance":
            assert self._send(token.transfer, self.addresses["stranger"], stash, sender=who)[1] is None
            wallet[who], wallet["stranger"] = 0, wallet["stranger"] + stash
        else:
            assert self._send(token.approve, market.address, 0, sender=who)[1] is None
        _, error = self._send(market.accept, d.request.as_tuple(), o.offer.as_tuple(), o.signature, sender=who)
        assert error == f"ERC20Insufficient{short.capitalize()}"
        if short == "balance":
            assert self._send(token.transfer, self.addresses[who], stash, sender="stranger")[1] is None
            wallet[who], wallet["stranger"] = stash, wallet["stranger"] - stash
        else:
            assert self._send(token.approve, market.address, 2**256 - 1, sender=who)[1] is None

    @rule(o=SchemeMachine.offers, sender=SENDERS)
    def accept_funded(self, o: ModelOffer, sender):
        """acceptFunded: accept as the model predicts, except that a signer whose account lacks its side is
        refused rather than awaited."""
        d = self.model.deals[o.offer.deal_id]
        sender = resolve(sender, "client" if o.signer == "provider" else "provider")

        def predict():
            trial = copy.deepcopy(self.model)
            error = trial.accept(trial.deals[o.offer.deal_id], o, sender)
            if error is None:
                signer = "provider" if sender == "client" else "client"
                side = o.offer.collateral if signer == "provider" else o.offer.price + d.request.validator_fee
                if self.model.available[signer] < side:
                    return "UnfundedCounterparty"
                return self.model.accept(d, o, sender)
            return error

        self._deal_message(Performative.ACCEPT, o.offer.deal_id, sender, predict, self.env.market.acceptFunded,
                           d.request.as_tuple(), o.offer.as_tuple(), o.signature)

    @precondition(lambda self: self.model.deals)
    @rule(who=st.sampled_from(ACTORS), to=st.sampled_from(ACTORS), amount=st.integers(0, 400),
          everything=st.booleans())
    def withdraw_to(self, who, to, amount, everything):
        amount = self.model.available[who] if everything else amount
        expected = self.model.withdraw(who, amount)
        if expected is None:  # paid to `to`'s wallet rather than `who`'s
            self.model.wallet[who] -= amount
            self.model.wallet[to] += amount
        _, actual = self._send(self.env.market.withdrawTo, self.env.token.address, amount, self.addresses[to],
                               sender=who)
        assert actual == expected

    @rule(who=st.sampled_from(ACTORS), amount=st.integers(0, 50), skimmer=st.sampled_from(ACTORS),
          to=st.sampled_from(ACTORS))
    def stray_tokens(self, who, amount, skimmer, to):
        """Tokens sent to the market directly belong to nobody's account: anyone skims them, to anyone."""
        token = self.env.token
        _, error = self._send(token.transfer, self.env.market.address, amount, sender=who)
        assert error is None
        _, error = self._send(self.env.market.skim, token.address, self.addresses[to], sender=skimmer)
        assert error == (None if amount else "NothingToSkim")
        self.model.wallet[who] -= amount
        self.model.wallet[to] += amount


def memory_sweep():
    """Every case of the rules added here once, so that none is left to the random draws."""
    machine = DifferentialMachine()
    try:
        for verdict, approved in itertools.product(("approved", "rejected", "silent", "none"), (True, False)):
            machine.court_rules(verdict, approved, window=60)
            machine.chain_agrees_with_model()
        deal_id = machine._fresh_deal(validator_scheme=False, window=60)
        o = machine._offer(deal_id, "provider", "provider", 50, 10, machine.model.now + 60)
        for how, accept in itertools.product(BAD_SIGNATURES, (False, True)):
            machine.bad_signature(o, how, accept)
        for who, short, validator_scheme in itertools.product(("client", "provider"), ("balance", "allowance"),
                                                              (False, True)):
            machine.short_wallet(who, short, validator_scheme)
        for fault, accept in itertools.product(BAD_TERMS, (False, True)):
            machine.bad_terms(fault, accept)
        # A request inviting providers by address (the scheme machine's invite nobody).
        invited = [machine.addresses["provider"], machine.addresses["stranger"]]
        request = replace(machine.model.deals[deal_id].request, nonce=next(machine._nonces))
        _, error = machine._send(machine.env.market.request, request.as_tuple(), "spec", invited, sender="client")
        assert error is None
        for fault, schema in itertools.product(REFUSED_ATTESTATIONS, Schema):
            machine.refused_attestation(deal_id, "provider", fault, schema)
        machine.stray_tokens("stranger", 0, "client", "court")
        machine.stray_tokens("stranger", 7, "client", "court")
        withdrawn = machine._offer(deal_id, "provider", "provider", 60, 10, machine.model.now + 60)
        machine.cancel_offer(withdrawn, "provider")
        machine._accept(withdrawn, "client")  # OfferIsCancelled
        machine.escrow("client", True, 0, False)  # ZeroAmount
        machine.withdraw_to("client", "stranger", 10**9, False)  # InsufficientBalance
        # acceptFunded refused while the provider's account holds 6 of the offer's 10 collateral, then accepted.
        machine.withdraw_to("provider", "stranger", 0, True)
        machine.escrow("provider", True, 10, False)
        machine.withdraw_to("provider", "stranger", 4, False)
        machine.accept_funded(o, "client")
        machine.escrow("provider", True, 4, False)
        machine.accept_funded(o, "client")
        assert machine.model.deals[deal_id].status == Status.AGREED
        machine.chain_agrees_with_model()
    finally:
        machine.teardown()


def test_memory_market_matches_the_contracts(chain, deployer, accounts, client_account, provider_account,
                                             validator_account, stranger, monkeypatch):
    """The scheme machine's sweep and random runs, every call made on the contracts and in memory."""
    snapshot = chain.snapshot()
    try:
        scheme_machine.install_market(chain, deployer, {
            "client": client_account, "provider": provider_account, "validator": validator_account,
            "court": deployer, "stranger": stranger})
        scheme_machine.OUTCOMES.clear()
        MEMORY_OUTCOMES.clear()
        # The scheme machine's sweep (every deadline, wrong attestation and wrong mover once) on the differential
        # machine, then this test's own, then random runs.
        monkeypatch.setattr(scheme_machine, "SchemeMachine", DifferentialMachine)
        scheme_machine.sweep()
        memory_sweep()
        run_state_machine_as_test(DifferentialMachine, settings=MEMORY_MARKET_SETTINGS)
    finally:
        chain.restore(snapshot)
    # The run reached what it is meant to compare: every transition and refusal the scheme machine requires of
    # itself, and every way to close, event and refusal listed here.
    missing = [o for o in scheme_machine.REQUIRED_OUTCOMES if not scheme_machine.OUTCOMES[o]]
    missing += [o for o in MEMORY_REQUIRED if not MEMORY_OUTCOMES[o]]
    assert not missing, f"never happened: {missing}; memory saw {dict(MEMORY_OUTCOMES)}"
