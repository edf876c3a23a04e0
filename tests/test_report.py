"""The simulation's report: who paid whom, by the contract's rules, against hand-worked deals; and on a real
run, the report's own tables: every token that moved is one agent's gain and another's loss, the transfers
explain each agent's holdings, and the metrics recomputed from agent_steps are those the report wrote."""

import asyncio
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from agents.deploy.addresses import Deployment
from agents.metrics import PerformanceSummary, pnl_decomposition
from agents.simulation.faults import fault_costs, incentives, net_tokens, token_transfers
from agents.simulation.report import DSR_ETA, market_metrics
from agents.simulation.run import simulate
from agents.simulation.scenario import load_scenario

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"


def _deal(deal_id, outcome, reason, *, validator=None, verdict=None, disputant=None, price=1.0, collateral=4.0,
          fee=0.5, bond=2.0):
    return {"deal_id": deal_id, "client": "c", "provider": "p", "validator": validator, "price": price,
            "collateral": collateral, "validator_fee": fee if validator else 0.0, "bond": bond, "outcome": outcome,
            "reason": reason, "verdict": verdict, "disputant": disputant}


DEALS = pd.DataFrame([
    _deal("ok", "SETTLED", "APPROVED"),                                             # c -> p 1
    _deal("checked", "SETTLED", "VERDICT_APPROVED", validator="v", verdict="APPROVED"),  # c -> p 1, c -> v 0.5
    _deal("late", "SLASHED", "COMPLETION_TIMEOUT", validator="v"),                  # p -> c 4; fee and stake back
    _deal("false", "SETTLED", "COURT_APPROVED", disputant="c"),                     # c -> p 1, c -> court 2
    _deal("bent", "SETTLED", "COURT_APPROVED", validator="v", verdict="REJECTED", disputant="p"),  # c -> p 1, v -> court 2
    _deal("upheld", "SLASHED", "COURT_REJECTED", validator="v", verdict="REJECTED", disputant="p"),
    # ^ p -> c 4, c -> v 0.5, p -> court 2 (the appellant's bond)
    _deal("unwound", "UNWOUND", "COURT_TIMEOUT", disputant="c"),                    # all back
    _deal("unfunded", "UNFUNDED", "COLLATERAL_MISSING"),                            # all back
    _deal("unfilled", "UNFILLED", None),
])


def test_transfers_follow_the_contracts_settlement_rules_by_hand():
    transfers = token_transfers(DEALS)
    got = {(r.deal_id, r.kind, r.payer, r.payee, r.tokens) for r in transfers.itertuples()}
    assert got == {
        ("ok", "payment", "c", "p", 1.0),
        ("checked", "payment", "c", "p", 1.0), ("checked", "validator_fee", "c", "v", 0.5),
        ("late", "slash", "p", "c", 4.0),
        ("false", "payment", "c", "p", 1.0), ("false", "dispute_bond", "c", "court", 2.0),
        ("bent", "payment", "c", "p", 1.0), ("bent", "validator_stake", "v", "court", 2.0),
        ("upheld", "slash", "p", "c", 4.0), ("upheld", "validator_fee", "c", "v", 0.5),
        ("upheld", "dispute_bond", "p", "court", 2.0),
    }
    # c: -1 -1 -0.5 +4 -1 -2 -1 +4 -0.5 = 1.0; p: +1 +1 -4 +1 +1 -4 -2 = -6; v: 0.5 - 2 + 0.5 = -1; court: 6
    assert net_tokens(transfers).to_dict() == pytest.approx({"c": 1.0, "p": -6.0, "v": -1.0, "court": 6.0})


def test_fault_costs_name_the_fault_the_payer_and_the_payee():
    transfers = token_transfers(DEALS)
    transactions = pd.DataFrame([
        {"agent": "p", "deal_id": "late", "fee_wei": 10**15},  # 0.001 ETH
        {"agent": "c", "deal_id": "late", "fee_wei": 2 * 10**15},
        {"agent": "c", "deal_id": "ok", "fee_wei": 10**15},  # a clean deal: no fault, no waste
    ])
    strategies = {"c": "budget", "p": "never-deliver", "v": "validator", "court": "court"}
    costs = fault_costs(DEALS, transfers, transactions, strategies, token_usd=2.0, eth_usd=3000.0)
    late = costs[costs["deal_id"] == "late"].set_index(["kind", "payer"])
    assert late.loc[("slash", "p"), ["payee_strategy", "tokens", "usd"]].tolist() == ["budget", 4.0, 8.0]
    assert late.loc[("wasted_gas", "p"), "usd"] == pytest.approx(3.0)  # 0.001 ETH at 3000 USD
    assert late.loc[("wasted_gas", "c"), "usd"] == pytest.approx(6.0)
    assert set(costs["fault"]) == {"completion_timeout", "court_approved", "court_rejected"}
    assert "ok" not in set(costs["deal_id"]) and "unwound" not in set(costs["deal_id"])


def test_incentives_compare_each_adversary_with_the_honest_strategies_of_its_role():
    agents = pd.DataFrame([
        {"strategy": "cost-plus", "role": "provider", "trading_pnl_usd": 3.0},
        {"strategy": "thompson", "role": "provider", "trading_pnl_usd": 1.0},
        {"strategy": "never-deliver", "role": "provider", "trading_pnl_usd": -4.0},
        {"strategy": "budget", "role": "client", "trading_pnl_usd": -1.0},
        {"strategy": "false-dispute", "role": "client", "trading_pnl_usd": -0.5},
    ])
    found = {row["strategy"]: row for row in incentives(agents)}
    assert set(found) == {"never-deliver", "false-dispute"}
    assert (found["never-deliver"]["pnl_usd"], found["never-deliver"]["honest_pnl_usd"]) == (-4.0, 2.0)
    assert found["never-deliver"]["below_honest"] is True
    assert found["false-dispute"]["below_honest"] is False  # reported as seen, not assumed


def test_market_metrics_count_counter_offers_and_price_dispersion():
    deals = pd.DataFrame([
        {**_deal("a", "SETTLED", "APPROVED", price=1.0), "agreed_at": 1, "scheme": "optimistic", "time_to_agreement": 1, "gas": 0},
        {**_deal("b", "SETTLED", "APPROVED", price=3.0), "agreed_at": 2, "scheme": "optimistic", "time_to_agreement": 1, "gas": 0},
        {**_deal("c", "UNFUNDED", "COLLATERAL_MISSING", price=2.0), "agreed_at": 3, "scheme": "optimistic",
         "time_to_agreement": 1, "gas": 0},
    ])
    messages = pd.DataFrame([
        {"message": "offer", "sender": "p", "provider": "p"},
        {"message": "offer", "sender": "c", "provider": "p"},  # the client signed: a counter-offer
        {"message": "accept", "sender": "c", "provider": "p"},
    ])
    market = market_metrics(deals, messages)
    assert (market["counter_offers"], market["collateral_missing"]) == (1, 1)
    # prices 1, 3, 2: mean 2, population deviation sqrt((1 + 1 + 0) / 3) = 0.8165
    assert market["price_cv"] == pytest.approx(math.sqrt(2 / 3) / 2)


@pytest.fixture(scope="module")
def tiny_run(chain, system, accounts, tmp_path_factory):
    return asyncio.run(simulate(
        load_scenario(TINY), node_url=chain.provider.http_uri, deployment=Deployment.from_system(system),
        funder_key=accounts[0].private_key, out_dir=tmp_path_factory.mktemp("report"),
    ))


def test_every_token_moved_is_one_agents_gain_and_anothers_loss(tiny_run):
    steps = pd.read_csv(tiny_run.run_dir / "agent_steps.csv")
    assert not steps.duplicated(["step", "agent"]).any()
    assert (steps.groupby("agent")["step"].count() == steps["step"].nunique()).all()
    # Agents (the court among them) hold every token the market holds: at every step the total is the same.
    # Not while an agent is down (tiny.yaml restarts cheap-0): what its open deals lock is out of sight then.
    all_up = steps.groupby("step")["up"].all()
    totals = steps.groupby("step")["holdings_tokens"].sum()[all_up]
    assert len(totals) >= steps["step"].nunique() - 2
    assert totals.max() - totals.min() == pytest.approx(0.0, abs=1e-9)
    change = steps.sort_values("step").groupby("agent")["holdings_tokens"].agg(lambda h: h.iloc[-1] - h.iloc[0])
    assert change.abs().sum() > 0  # tokens did move
    # The report's transfers, read back, explain each agent's change of holdings on chain.
    transfers = pd.read_parquet(tiny_run.run_dir / "transfers.parquet")
    assert len(transfers)
    assert transfers["tokens"].tolist() == pytest.approx(pd.read_csv(tiny_run.run_dir / "transfers.csv")["tokens"].tolist())
    assert net_tokens(transfers).reindex(change.index, fill_value=0.0).to_numpy() == pytest.approx(change.to_numpy(),
                                                                                                 abs=1e-9)


def test_metrics_recomputed_from_agent_steps_are_the_reports(tiny_run):
    steps = pd.read_csv(tiny_run.run_dir / "agent_steps.csv")
    agents = pd.read_csv(tiny_run.run_dir / "agents.csv").set_index("agent")
    summary = json.loads((tiny_run.run_dir / "summary.json").read_text())
    for name, frame in steps.groupby("agent"):
        frame = frame.sort_values("step")
        row = agents.loc[name]
        value = frame["holdings_usd"] - frame["gas_usd"] - frame["electricity_usd"]
        assert row["pnl_usd"] == pytest.approx(value.iloc[-1] - value.iloc[0], rel=1e-9, abs=1e-12)
        pnl = pnl_decomposition(frame["holdings_tokens"], frame["token_usd"], frame["gas_usd"] + frame["electricity_usd"])
        assert row["trading_pnl_usd"] + row["revaluation_usd"] == pytest.approx(row["pnl_usd"], abs=1e-9)
        if pnl["trading_return"].isna().any():  # no capital: no returns
            assert math.isnan(row["sharpe"]) and math.isnan(row["cumulative_return"])
            continue
        # Returns: one per step after the first, none invented.
        assert len(pnl) == len(frame) - 1
        expected = PerformanceSummary.of_returns(pnl["trading_return"], eta=DSR_ETA)
        for column in ("cumulative_return", "sharpe", "sortino", "ema_sharpe", "mean_differential_sharpe"):
            assert row[column] == pytest.approx(getattr(expected, column), rel=1e-9, nan_ok=True), (name, column)
    for strategy, group in agents.groupby("strategy"):
        reported = summary["per_strategy"][strategy]
        assert reported["trading_pnl_usd"] == pytest.approx(group["trading_pnl_usd"].sum())
        assert (reported["mean_sharpe"] is None) == group["sharpe"].isna().all()
        if reported["mean_sharpe"] is not None:
            assert reported["mean_sharpe"] == pytest.approx(group["sharpe"].mean())
    assert "per step" in summary["return_convention"] and "not annualised" in summary["return_convention"]


def test_an_agent_that_did_nothing_has_no_trading_pnl_and_no_ratios(tiny_run):
    agents = tiny_run.agents.set_index("agent")
    court = agents.loc["court"]  # no dispute in this market: the court never acts
    assert court["trading_pnl_usd"] == 0.0 and court["revaluation_usd"] != 0.0  # it holds tokens: their price moved
    assert court["cumulative_return"] == 0.0 or pd.isna(court["cumulative_return"])  # 0, or none without capital
    for ratio in ("sharpe", "sortino", "ema_sharpe", "mean_differential_sharpe"):
        assert pd.isna(court[ratio]), ratio  # no number from price noise
    assert tiny_run.summary["per_strategy"]["court"]["mean_sharpe"] is None  # null in summary.json, not a number


def test_report_html_is_self_contained_with_every_plot_and_table(tiny_run):
    page = (tiny_run.run_dir / "report.html").read_text()
    assert tiny_run.html == tiny_run.run_dir / "report.html"
    assert page.count("data:image/png;base64,") == len(tiny_run.plots) >= 2
    assert "src=\"http" not in page and "href=" not in page  # nothing to fetch
    for heading in ("Market", "By strategy", "By agent", "Faults: who paid whom"):
        assert f"<h2>{heading}</h2>" in page
    for table in ("deals", "agents", "agent_steps", "messages", "transfers", "fault_costs"):
        assert pd.read_parquet(tiny_run.run_dir / f"{table}.parquet").shape == \
            pd.read_csv(tiny_run.run_dir / f"{table}.csv").shape, table


def test_plots_of_a_market_of_many_providers_show_their_groups(tmp_path, monkeypatch):
    """Past a dozen providers, one line or bar each is unreadable: utilization is each group's mean (with its
    spread) and deals won are each group's distribution, providers that won nothing included."""
    from agents.simulation import plots

    figures = {}
    monkeypatch.setattr(plots, "_save", lambda fig, run_dir, name, written: figures.__setitem__(name, fig))
    providers = {f"cheap-{i}": "cheap" for i in range(30)} | {f"dear-{i}": "dear" for i in range(30)}
    # Every cheap provider wins i % 4 deals; one dear provider wins 2, the 29 others none.
    won = [f"cheap-{i}" for i in range(30) for _ in range(i % 4)] + ["dear-0", "dear-0"]
    deals = pd.DataFrame({"provider": won, "outcome": "SETTLED"})
    plots._deals_by_provider(tmp_path, deals, providers, [])
    axes = figures["deals_by_provider.png"].axes[0]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["cheap (30 providers)", "dear (30 providers)"]
    assert "60 providers" in axes.get_title() and f"{len(won)} deals" in axes.get_title()

    times = [2_000_000_000 + 600 * k for k in range(4)]
    busy = pd.DataFrame([{"time": t, "provider": name, "busy_share": 0.5 if name.startswith("cheap") else 0.1}
                         for name in providers for t in times])
    demand = pd.DataFrame(columns=["time", "burst", "jobs_arrived", "demand_factor"])
    plots._utilization(tmp_path, busy, demand, times[0], providers, [])
    top = figures["provider_utilization.png"].axes[0]
    lines = {line.get_label(): line for line in top.get_lines()}
    assert set(lines) == {"cheap (30 providers)", "dear (30 providers)"}
    assert list(lines["cheap (30 providers)"].get_ydata()) == [50.0] * 4
