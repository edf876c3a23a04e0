"""Does cheating pay? Every deviation open to a party, played on a fresh deployment against honest play.

A *world* is one deal played out by real transactions on a fresh deployment of EAS, the market and a token:
the honest world (everyone follows the rules) and one world per deviation. A party's payoff is what it ends
with minus what it started with, in tokens: its wallet and escrow balances, plus the value of a correct result
to the client (kept whatever the verdict: the result's URI is public once completion is attested), minus the
cost of computing the job (provider) or of re-running it to judge (validator, court), minus the gas it paid
(ETH spent, converted at a fixed price). A deviation *pays* unless it leaves the deviating party (for collusion:
the coalition's summed payoff) strictly worse off than the honest play of the same world.

Assumptions, as README "Incentives" states them: the court (the top of the appeal chain, fixed at deployment)
is honest and rules within its window; every party can tell a correct result from a wrong one (the client checks
results, the provider knows its work) and appeals or disputes a wrong judgement; the validator's fee covers its
cost of checking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ape import chain
from eth_utils import keccak

from agents.deploy.system import System, deploy_system
from agents.protocol import Offer, Request, Status, ValidationScheme
from agents.testing.market_client import MarketClient

UNIT = 10**18  # the test token has 18 decimals
ZERO_ADDRESS = "0x" + "00" * 20
PARTIES = ("client", "provider", "validator", "court")
CORRECT = keccak(text="the job's correct output")
GARBAGE = keccak(text="output the provider never computed")


@dataclass(frozen=True)
class Economy:
    """The deal's terms and the parties' private values, in whole tokens."""

    price: int = 80
    collateral: int = 50
    validator_fee: int = 5
    bond: int = 10
    value: float = 100.0  # what a correct result is worth to the client
    compute_cost: float = 30.0  # the provider's cost of running the job
    check_cost: float = 2.0  # the validator's or the court's cost of re-running it
    eth_price: float = 3_000.0  # tokens per ETH, to charge gas
    commence_within: int = 600
    job_duration: int = 3_600
    validation_window: int = 1_800


class World:
    """One fresh deployment and its four parties, with everything a script needs to play one deal."""

    def __init__(self, accounts, economy: Economy):
        self.economy = economy
        deployer, client, provider, validator = accounts[:4]
        self.accounts = {"client": client, "provider": provider, "validator": validator, "court": deployer}
        self.system: System = deploy_system(deployer, court=deployer.address)
        self.token = self.system.token
        self.parties = {name: MarketClient(self.system, account) for name, account in self.accounts.items()}
        for name in ("client", "provider", "validator"):
            account = self.accounts[name]
            self.token.mint(account.address, 1_000 * UNIT, sender=deployer)
            self.token.approve(self.system.market.address, 2**256 - 1, sender=account)
        for name in ("provider", "validator"):  # funds its collateral or stake from escrow, as agents do
            self.system.market.deposit(self.token.address, 200 * UNIT, sender=self.accounts[name])
        self.adjustments = dict.fromkeys(PARTIES, 0.0)  # values and costs that are not token transfers
        self._start = {name: self._holdings(name) for name in PARTIES}
        self.request: Request | None = None
        self.deal_id: bytes | None = None
        self.completion_uid: bytes | None = None
        self.verdict_uid: bytes | None = None

    def __getattr__(self, name: str) -> MarketClient:
        if name in PARTIES:
            return self.parties[name]
        raise AttributeError(name)

    def address(self, party: str) -> str:
        return self.accounts[party].address

    # --- money ----------------------------------------------------------------------------------------

    def _holdings(self, party: str) -> tuple[int, int]:
        address = self.address(party)
        tokens = self.token.balanceOf(address) + self.system.market.available(self.token.address, address)
        return tokens, self.accounts[party].balance

    def payoff(self, party: str) -> float:
        tokens, wei = self._holdings(party)
        start_tokens, start_wei = self._start[party]
        gas = (start_wei - wei) / 1e18 * self.economy.eth_price
        return (tokens - start_tokens) / UNIT + self.adjustments[party] - gas

    def tokens_gained(self, party: str) -> float:
        """Tokens only: wallet and escrow balances, no values, costs or gas."""
        return (self._holdings(party)[0] - self._start[party][0]) / UNIT

    def token_flows_balance(self) -> bool:
        """Every token one party gained another lost: nothing stays locked once the deal has ended."""
        return sum(self._holdings(p)[0] - self._start[p][0] for p in PARTIES) == 0

    # --- the deal ---------------------------------------------------------------------------------------

    def post_request(self, scheme: ValidationScheme = ValidationScheme.OPTIMISTIC) -> None:
        e = self.economy
        validated = scheme == ValidationScheme.VALIDATOR
        self.request = Request(
            client=self.address("client"), token=self.token.address, max_price=e.price * UNIT,
            min_collateral=e.collateral * UNIT, offer_deadline=chain.pending_timestamp + 3_600,
            commence_within=e.commence_within, job_duration=e.job_duration, validation_window=e.validation_window,
            scheme=scheme, validator=self.address("validator") if validated else ZERO_ADDRESS,
            validator_fee=e.validator_fee * UNIT if validated else 0, bond=e.bond * UNIT,
            spec_hash=keccak(text="the job's spec"), nonce=1,
        )
        self.client.request(self.request, "ipfs://spec")
        self.deal_id = self.client.deal_id(self.request)

    def terms(self) -> Offer:
        e = self.economy
        return Offer(self.deal_id, self.address("provider"), e.price * UNIT, e.collateral * UNIT,
                     chain.pending_timestamp + 3_600, 0)

    def agree(self, scheme: ValidationScheme = ValidationScheme.OPTIMISTIC) -> None:
        """Request, the provider's offer, and the client's funded acceptance."""
        self.post_request(scheme)
        offer = self.terms()
        signature = self.provider.sign(offer)
        self.provider.offer(offer, signature)
        self.client.accept_funded(self.request, offer, signature)

    def work(self, correct: bool = True) -> None:
        """The provider commences and completes: a correct result costs it the compute and is worth the
        value to the client, who keeps the result whatever the verdict; garbage costs and is worth nothing."""
        client = self.address("client")
        _, commencement = self.provider.attest_commencement(self.deal_id, client)
        result = CORRECT if correct else GARBAGE
        _, self.completion_uid = self.provider.attest_completion(self.deal_id, client, commencement, result,
                                                                 "ipfs://result")
        if correct:
            self.adjustments["provider"] -= self.economy.compute_cost
            self.adjustments["client"] += self.economy.value

    def verdict(self, approved: bool) -> None:
        self.adjustments["validator"] -= self.economy.check_cost
        _, self.verdict_uid = self.validator.verdict(self.deal_id, self.address("provider"), self.completion_uid,
                                                     approved)

    def ruling(self, approved: bool) -> None:
        self.adjustments["court"] -= self.economy.check_cost
        self.court.ruling(self.deal_id, self.address("provider"), self.verdict_uid or self.completion_uid, approved)

    def pass_deadline(self) -> None:
        chain.pending_timestamp = self.system.market.getDeal(self.deal_id).deadline + 1

    def status(self) -> Status:
        return Status(self.system.market.getDeal(self.deal_id).status)


# ------------------------------------------------------------------------------------------------------
# Scripts: one deal each, honest or with one deviation
# ------------------------------------------------------------------------------------------------------

OPTIMISTIC, VALIDATOR = ValidationScheme.OPTIMISTIC, ValidationScheme.VALIDATOR


def honest_optimistic(w: World) -> None:
    """Correct work; the satisfied client stays silent and the provider settles after the window."""
    w.agree()
    w.work()
    w.pass_deadline()
    w.provider.settle(w.deal_id)


def honest_validated(w: World) -> None:
    """Correct work; the validator approves; nobody appeals; the provider settles after the appeal window."""
    w.agree(VALIDATOR)
    w.work()
    w.verdict(True)
    w.pass_deadline()
    w.provider.settle(w.deal_id)


def client_disputes_correct_result(w: World) -> None:
    w.agree()
    w.work()
    w.client.dispute(w.request)
    w.ruling(True)


def wrong_result_client_disputes(w: World) -> None:
    """The honest client's answer to a wrong result."""
    w.agree()
    w.work(correct=False)
    w.client.dispute(w.request)
    w.ruling(False)


def wrong_result_client_never_judges(w: World) -> None:
    w.agree()
    w.work(correct=False)
    w.pass_deadline()
    w.provider.settle(w.deal_id)


def counter_offer(w: World) -> Offer:
    """The client counter-offers; the provider accepts it with plain `accept`, which awaits an unfunded side."""
    w.post_request()
    offer = w.terms()
    signature = w.client.sign(offer)
    w.client.offer(offer, signature)
    w.provider.accept(w.request, offer, signature)
    return offer


def client_funds_counter_offer(w: World) -> None:
    counter_offer(w)
    w.client.fund(w.deal_id)
    w.work()
    w.pass_deadline()
    w.provider.settle(w.deal_id)


def client_never_funds(w: World) -> None:
    counter_offer(w)
    w.pass_deadline()
    w.provider.collateral_missing(w.deal_id)


def provider_never_delivers(w: World) -> None:
    w.agree()
    w.pass_deadline()
    w.client.claim_timeout(w.deal_id)


def provider_delivers_wrong_result(w: World) -> None:
    wrong_result_client_disputes(w)


def provider_aborts(w: World) -> None:
    w.agree()
    w.provider.attest_commencement(w.deal_id, w.address("client"))
    w.provider.abort(w.deal_id)


def unfunded_offer_accepted(w: World) -> Offer:
    """The provider's collateral is not in escrow when the client accepts with plain `accept`."""
    w.system.market.withdraw(w.token.address, 200 * UNIT, sender=w.accounts["provider"])
    w.post_request()
    offer = w.terms()
    signature = w.provider.sign(offer)
    w.provider.offer(offer, signature)
    w.client.accept(w.request, offer, signature)
    return offer


def provider_funds_in_time(w: World) -> None:
    unfunded_offer_accepted(w)
    w.provider.fund(w.deal_id)
    w.work()
    w.pass_deadline()
    w.provider.settle(w.deal_id)


def provider_funds_late(w: World) -> None:
    """Too late to fund: past the deadline the client gives up and takes its payment back."""
    unfunded_offer_accepted(w)
    w.pass_deadline()
    w.client.collateral_missing(w.deal_id)


def validator_rejects_correct_result(w: World) -> None:
    """A wrong verdict, alone or for a colluding client: the provider appeals and the court overrules it."""
    w.agree(VALIDATOR)
    w.work()
    w.verdict(False)
    w.provider.appeal(w.deal_id)
    w.ruling(True)


def validator_silent(w: World) -> None:
    w.agree(VALIDATOR)
    w.work()
    w.pass_deadline()
    w.provider.escalate(w.deal_id)
    w.ruling(True)


def wrong_result_validator_rejects(w: World) -> None:
    """The honest validator's answer to a wrong result (the provider accepts the verdict)."""
    w.agree(VALIDATOR)
    w.work(correct=False)
    w.verdict(False)
    w.pass_deadline()
    w.client.settle(w.deal_id)


def validator_approves_wrong_result(w: World) -> None:
    """A wrong verdict, alone or for a colluding provider: the client appeals and the court overrules it."""
    w.agree(VALIDATOR)
    w.work(correct=False)
    w.verdict(True)
    w.client.appeal(w.deal_id)
    w.ruling(False)


def client_appeals_correct_approval(w: World) -> None:
    w.agree(VALIDATOR)
    w.work()
    w.verdict(True)
    w.client.appeal(w.deal_id)
    w.ruling(True)


def provider_appeals_correct_rejection(w: World) -> None:
    w.agree(VALIDATOR)
    w.work(correct=False)
    w.verdict(False)
    w.provider.appeal(w.deal_id)
    w.ruling(False)


@dataclass(frozen=True)
class Deviation:
    name: str
    deviators: tuple[str, ...]  # one party, or a coalition whose payoffs are summed
    honest: Callable[[World], None]
    deviating: Callable[[World], None]
    note: str = ""


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation("client disputes a correct result", ("client",), honest_optimistic, client_disputes_correct_result),
    Deviation("client never judges a wrong result", ("client",), wrong_result_client_disputes,
              wrong_result_client_never_judges, "silence on a correct result is the honest default"),
    Deviation("client never funds its counter-offer", ("client",), client_funds_counter_offer, client_never_funds),
    Deviation("client appeals a correct approval", ("client",), honest_validated, client_appeals_correct_approval),
    Deviation("provider never delivers", ("provider",), honest_optimistic, provider_never_delivers),
    Deviation("provider delivers a wrong result", ("provider",), honest_optimistic, provider_delivers_wrong_result),
    Deviation("provider delivers a wrong result (validator)", ("provider",), honest_validated,
              wrong_result_validator_rejects),
    Deviation("provider aborts", ("provider",), honest_optimistic, provider_aborts),
    Deviation("provider funds late", ("provider",), provider_funds_in_time, provider_funds_late),
    Deviation("provider appeals a correct rejection", ("provider",), honest_validated,
              provider_appeals_correct_rejection),
    Deviation("validator rejects a correct result", ("validator",), honest_validated,
              validator_rejects_correct_result),
    Deviation("validator approves a wrong result", ("validator",), wrong_result_validator_rejects,
              validator_approves_wrong_result),
    Deviation("validator stays silent", ("validator",), honest_validated, validator_silent),
    Deviation("client + validator reject a correct result", ("client", "validator"), honest_validated,
              validator_rejects_correct_result),
    Deviation("provider + validator pass a wrong result", ("provider", "validator"), honest_validated,
              validator_approves_wrong_result),
)


@dataclass
class Outcome:
    """One world played: every party's payoff and how the deal ended."""

    payoffs: dict[str, float]
    tokens: dict[str, float]  # token balance changes alone
    status: Status
    balanced: bool


@dataclass
class Row:
    deviation: Deviation
    honest: Outcome
    deviating: Outcome
    payoff_honest: float = field(init=False)
    payoff_deviating: float = field(init=False)

    def __post_init__(self):
        self.payoff_honest = sum(self.honest.payoffs[p] for p in self.deviation.deviators)
        self.payoff_deviating = sum(self.deviating.payoffs[p] for p in self.deviation.deviators)

    @property
    def pays(self) -> bool:
        """Not strictly worse than honesty counts as paying."""
        return self.payoff_deviating >= self.payoff_honest


def play(script: Callable[[World], None], accounts, economy: Economy) -> Outcome:
    world = World(accounts, economy)
    script(world)
    return Outcome({p: world.payoff(p) for p in PARTIES}, {p: world.tokens_gained(p) for p in PARTIES},
                   world.status(), world.token_flows_balance())


def payoff_table(accounts, economy: Economy = Economy(), progress: Callable[[str], None] | None = None) -> list[Row]:
    """Plays every deviation and its honest counterpart (each honest world once), each on a fresh deployment."""
    honest: dict[Callable, Outcome] = {}
    rows = []
    for deviation in DEVIATIONS:
        if progress:
            progress(deviation.name)
        if deviation.honest not in honest:
            honest[deviation.honest] = play(deviation.honest, accounts, economy)
        rows.append(Row(deviation, honest[deviation.honest], play(deviation.deviating, accounts, economy)))
    return rows
