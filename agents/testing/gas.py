"""Gas of every scheme operation, measured with real transactions on a fresh deployment.

The figures are deterministic: the chain clock is pinned (fixed start, one second per block), accounts and
deployment order are fixed, so every calldata byte and storage transition is the same on every run. They
are steady-state figures: a warm-up deal runs first, so parties already hold escrow balances, as agents
that keep a float in the escrow do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ape import chain

from agents.deploy.system import DEFAULT_COURT_WINDOW, System, deploy_system
from agents.protocol import Offer, Request, ValidationScheme
from agents.testing.market_client import MarketClient

CLOCK_START = 2_000_000_000
ZERO_ADDRESS = "0x" + "00" * 20
PRICE = 9 * 10**17
COLLATERAL = 10**17
VALIDATOR_FEE = 10**16
BOND = 10**17
FLOAT = 10**21
# A realistic result location: an IPFS CIDv1 (66 characters).
RESULT_URI = "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
SPEC_URI = "ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
HAPPY_PATH = ("request", "offer", "accept", "commencement attestation", "completion attestation", "settle")


@dataclass
class GasReport:
    operations: dict[str, int] = field(default_factory=dict)

    def record(self, name: str, receipt) -> None:
        self.operations[name] = receipt.gas_used

    @property
    def happy_path(self) -> int:
        return sum(self.operations[name] for name in HAPPY_PATH)


class _Bench:
    """Runs deals between fixed accounts (the deployer is the court) and records what each step costs."""

    def __init__(self, system: System, deployer, client, provider, validator):
        self.system = system
        self.token = system.token
        self.client = MarketClient(system, client)
        self.provider = MarketClient(system, provider)
        self.validator = MarketClient(system, validator)
        self.court = MarketClient(system, deployer)
        self.deployer = deployer
        self.nonce = 0

    def advance(self, seconds: int) -> None:
        chain.provider.set_timestamp(chain.pending_timestamp + seconds)

    def make_request(self, scheme=ValidationScheme.OPTIMISTIC) -> Request:
        self.nonce += 1
        now = chain.pending_timestamp
        validating = scheme == ValidationScheme.VALIDATOR
        return Request(
            client=self.client.account.address, token=self.token.address, max_price=10**18,
            min_collateral=COLLATERAL, offer_deadline=now + 3600, commence_within=600, job_duration=3600,
            validation_window=600, scheme=scheme,
            validator=self.validator.account.address if validating else ZERO_ADDRESS, validator_fee=VALIDATOR_FEE if validating else 0, bond=BOND, spec_hash=b"\x5e" * 32, nonce=self.nonce,
        )

    def make_offer(self, request: Request, collateral: int = COLLATERAL) -> Offer:
        return Offer(
            deal_id=self.client.deal_id(request), provider=self.provider.account.address, price=PRICE,
            collateral=collateral, expiry=chain.pending_timestamp + 1800, round=0,
        )

    def agree(self, report: GasReport | None = None, scheme=ValidationScheme.OPTIMISTIC) -> bytes:
        return self.agree_on(self.make_request(scheme), report)

    def agree_on(self, request: Request, report: GasReport | None = None) -> bytes:
        offer = self.make_offer(request)
        signature = self.provider.sign(offer)
        receipts = {
            "request": self.client.request(request, SPEC_URI),
            "offer": self.provider.offer(offer, signature),
            "accept": self.client.accept(request, offer, signature),
        }
        if report:
            for name, receipt in receipts.items():
                report.record(name, receipt)
        return offer.deal_id

    def commence(self, deal_id: bytes, report: GasReport | None = None) -> bytes:
        receipt, uid = self.provider.attest_commencement(deal_id, self.client.account.address)
        if report:
            report.record("commencement attestation", receipt)
        return uid

    def complete(self, deal_id: bytes, ref: bytes, report: GasReport | None = None) -> bytes:
        receipt, uid = self.provider.attest_completion(
            deal_id, self.client.account.address, ref, b"\x7e" * 32, RESULT_URI
        )
        if report:
            report.record("completion attestation", receipt)
        return uid

    def completed(self, scheme=ValidationScheme.OPTIMISTIC) -> tuple[Request, bytes, bytes]:
        """A deal run to completion: (request, deal id, completion uid)."""
        request = self.make_request(scheme)
        deal_id = self.agree_on(request)
        return request, deal_id, self.complete(deal_id, self.commence(deal_id))

    def full_deal(self, report: GasReport | None = None) -> None:
        deal_id = self.agree(report)
        self.complete(deal_id, self.commence(deal_id, report), report)
        self.advance(601)  # past the validation window: anyone may settle
        receipt = self.client.settle(deal_id)
        if report:
            report.record("settle", receipt)


def measure(accounts) -> GasReport:
    """Deploy a fresh system on the connected chain and measure every operation once."""
    deployer, client, provider, validator = accounts[:4]
    chain.provider.set_timestamp(CLOCK_START)
    chain.provider.make_request("anvil_setBlockTimestampInterval", [1])
    system = deploy_system(deployer)
    for account in (client, provider, validator):
        system.token.mint(account.address, 10 * FLOAT, sender=deployer)

    report = GasReport()
    bench = _Bench(system, deployer, client, provider, validator)
    token = system.token

    # Escrow accounts: first deposits create the balances (the validator's is its stake, the court's is paid into);
    # the warm-up deal makes every slot steady.
    token.approve(system.market.address, 2**256 - 1, sender=client)
    token.approve(system.market.address, 2**256 - 1, sender=provider)
    report.record("deposit (first)", system.market.deposit(token.address, FLOAT, sender=client))
    system.market.deposit(token.address, FLOAT, sender=provider)
    for account in (validator, deployer):
        system.token.mint(account.address, FLOAT, sender=deployer)
        token.approve(system.market.address, FLOAT, sender=account)
        system.market.deposit(token.address, FLOAT, sender=account)
    bench.full_deal()

    # The happy path, measured: request, one offer, accept, commencement, completion, settlement.
    bench.full_deal(report)

    # Counter-offer signed by the client and accepted by the provider.
    request = bench.make_request()
    counter = bench.make_offer(request)
    client_signature = bench.client.sign(counter)
    bench.client.request(request, SPEC_URI)
    report.record("counter-offer (client)", bench.client.offer(counter, client_signature))
    report.record("accept (provider accepts counter-offer)", bench.provider.accept(request, counter, client_signature))

    # Validation attestations: the client's approval closes the deal; a validator's verdict judges it (appealable).
    _, deal_id, completion = bench.completed()
    receipt, _ = bench.client.approve(deal_id, provider.address, completion)
    report.record("validation attestation (client approves)", receipt)
    for approved, name in ((True, "verdict attestation (validator approves)"),
                           (False, "verdict attestation (validator rejects)")):
        _, deal_id, completion = bench.completed(ValidationScheme.VALIDATOR)
        receipt, _ = bench.validator.verdict(deal_id, provider.address, completion, approved)
        report.record(name, receipt)

    # Timeouts and aborts: anyone moves a deal on after its deadline.
    deal_id = bench.agree()
    bench.advance(601)
    report.record("claimTimeout (no commencement)", bench.validator.claim_timeout(deal_id))
    deal_id = bench.agree()
    bench.commence(deal_id)
    bench.advance(3601)
    report.record("claimTimeout (no completion)", bench.validator.claim_timeout(deal_id))
    deal_id = bench.agree()
    report.record("abort (provider)", bench.provider.abort(deal_id))

    # Accepting when the provider's account cannot cover the collateral: the deal awaits it.
    big = 2 * FLOAT
    for then in ("fund", "collateralMissing"):
        request = bench.make_request()
        offer = bench.make_offer(request, collateral=big)
        signature = bench.provider.sign(offer)
        receipt = bench.client.accept(request, offer, signature)
        report.record(f"accept (awaiting collateral, then {then})", receipt)
        if then == "fund":
            report.record("fund (provider locks collateral)", bench.provider.fund(offer.deal_id))
        else:
            report.record("collateralMissing (client gives up)", bench.client.collateral_missing(offer.deal_id))

    # Withdrawn messages.
    request = bench.make_request()
    offer = bench.make_offer(request)
    report.record("cancelOffer", bench.provider.cancel_offer(offer))
    report.record("cancelRequest", bench.client.cancel_request(request))

    report.record("deposit", system.market.deposit(token.address, FLOAT, sender=client))
    report.record("withdraw", bench.client.withdraw(token, FLOAT))

    # Measured last, so that every figure above stays comparable with earlier snapshots.
    system.market.deposit(token.address, FLOAT, sender=provider)  # the slashes above spent its account
    request = bench.make_request()
    offer = bench.make_offer(request)
    signature = bench.provider.sign(offer)
    bench.client.request(request, SPEC_URI)
    bench.provider.offer(offer, signature)
    report.record("acceptFunded (both sides lock now)", bench.client.accept_funded(request, offer, signature))
    report.record("withdrawTo", system.market.withdrawTo(token.address, FLOAT // 2, validator.address, sender=client))
    _measure_judgement(bench, report)
    return report


def _measure_judgement(bench: _Bench, report: GasReport) -> None:
    """Validator deals, disputes, appeals and the court (measured after the operations above, so that their
    figures stay comparable with earlier snapshots)."""
    provider = bench.provider.account.address
    validator_scheme = ValidationScheme.VALIDATOR

    request = bench.make_request(validator_scheme)
    offer = bench.make_offer(request)
    signature = bench.provider.sign(offer)
    bench.client.request(request, SPEC_URI)
    bench.provider.offer(offer, signature)
    report.record("accept (validator deal: locks fee and stake)", bench.client.accept(request, offer, signature))
    deal_id = offer.deal_id
    completion = bench.complete(deal_id, bench.commence(deal_id))
    bench.validator.verdict(deal_id, provider, completion, True)
    bench.advance(601)  # past the appeal window: anyone carries the verdict out
    report.record("settle (judged: verdict stands, validator paid)", bench.client.settle(deal_id))

    # Appeals, both ways, and the court's ruling on them.
    for approved, appellant, ruling, name in ((False, bench.provider, True, "appeal (provider, of a rejection)"),
                                              (True, bench.client, False, "appeal (client, of an approval)")):
        _, deal_id, completion = bench.completed(validator_scheme)
        _, verdict = bench.validator.verdict(deal_id, provider, completion, approved)
        report.record(name, appellant.appeal(deal_id))
        receipt, _ = bench.court.ruling(deal_id, provider, verdict, ruling)
        report.record(f"court ruling ({'approves' if ruling else 'rejects'}, after appeal)", receipt)

    # Optimistic disputes and the court's ruling on them.
    for ruling in (False, True):
        request, deal_id, completion = bench.completed()
        receipt = bench.client.dispute(request)
        if not ruling:
            report.record("dispute (client)", receipt)
        receipt, _ = bench.court.ruling(deal_id, provider, completion, ruling)
        report.record(f"court ruling ({'approves' if ruling else 'rejects'}, after dispute)", receipt)

    # A silent validator's deal goes to the court; a court that does not rule lets it unwind.
    _, deal_id, _ = bench.completed(validator_scheme)
    bench.advance(601)
    report.record("escalate (silent validator)", bench.client.escalate(deal_id))
    bench.advance(DEFAULT_COURT_WINDOW + 1)
    report.record("claimTimeout (court timeout)", bench.client.claim_timeout(deal_id))
