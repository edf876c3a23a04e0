"""`ape run fund` on the test chain and a fresh deployment: on the project's test token it mints, approves and
deposits, and the agent's escrow account holds exactly the tokens asked for; on a token it cannot mint it sends
nothing and says what to send where, and once the wallet holds the tokens it approves and deposits them."""

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from agents.deploy.addresses import Deployment

ROOT = Path(__file__).resolve().parent.parent
UNIT = 10**18
AGENT_INDEX = 9  # a test account no other test funds


def fund(deployment_file: Path, rpc: str, tokens: str) -> subprocess.CompletedProcess:
    ape = Path(sys.executable).with_name("ape")
    return subprocess.run([str(ape), "run", "fund", "--test-account", str(AGENT_INDEX), "--tokens", tokens,
                           "--deployment", str(deployment_file), "--rpc", rpc],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, env=os.environ)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def agent(accounts):
    return accounts[AGENT_INDEX]


def test_funds_the_escrow_on_the_test_token(chain, system, agent, tmp_path):
    deployment_file = tmp_path / "deployment.json"
    deployment_file.write_text(Deployment.from_system(system).to_json())
    market, token = system.market, system.token
    wallet = token.balanceOf(agent.address)
    assert market.available(token.address, agent.address) == 0  # a fresh account

    out = ok(fund(deployment_file, chain.provider.http_uri, "12.5"))

    assert market.available(token.address, agent.address) == 12_500_000_000_000_000_000
    assert token.balanceOf(agent.address) == wallet  # it minted exactly what it deposited
    assert token.allowance(agent.address, market.address) == 0  # the approval was used up
    last = out.strip().splitlines()[-1]
    assert agent.address in last and "minted 12.5 tUSD" in last and "deposited 12.5 tUSD" in last
    assert last.endswith("available: 12.5 tUSD")

    ok(fund(deployment_file, chain.provider.http_uri, "1"))  # again: adds to the account
    assert market.available(token.address, agent.address) == 13_500_000_000_000_000_000


def test_a_token_it_cannot_mint_says_what_to_send_where_then_deposits(chain, project, system, deployer, agent,
                                                                      tmp_path):
    other_token = project.TwoAddressToken.deploy(sender=deployer)  # a plain ERC-20, not the project's test token
    deployment = replace(Deployment.from_system(system), token=other_token.address)
    deployment_file = tmp_path / "deployment.json"
    deployment_file.write_text(deployment.to_json())
    nonce = agent.nonce

    refused = fund(deployment_file, chain.provider.http_uri, "5")

    assert refused.returncode == 1 and agent.nonce == nonce  # nothing sent
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, refused.stderr
    for what in (agent.address, "send it 5 TWO", f"token {other_token.address}", f"chain {deployment.chain_id}",
                 f"approve the market {system.market.address}", "deposit 5 TWO"):
        assert what in lines[0], lines[0]

    other_token.mint(agent.address, 5 * UNIT, sender=deployer)  # what the message asked someone to send
    out = ok(fund(deployment_file, chain.provider.http_uri, "5"))

    assert system.market.available(other_token.address, agent.address) == 5 * UNIT
    assert other_token.balanceOf(agent.address) == 0
    assert "minted" not in out and "deposited 5 TWO" in out and "available: 5 TWO" in out
