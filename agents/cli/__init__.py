"""What the `ape run` commands share at the user's door: bad input is one line, `Error: ...`, and exit code 2
(`BadInput`, and click's own usage errors shown without the usage text); `--network` offers the few networks
that make sense here; a node must answer before anything is sent to it; the signing key of an agent comes
from an Ape account or, on local chains, a test account.

`OneLineErrors` is for plain click commands (`ape run agent`, `ape run fund`), `NetworkCommand` for the
commands that take Ape's `--network` (`ape run simulate`, `ape run deploy`); given `--backend memory`, a
`NetworkCommand` connects to nothing."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand

from agents.deploy.addresses import Deployment

OWN_NODE = "ethereum:local:foundry --provider-settings '{\"host\": \"http://127.0.0.1:8545\"}'"
# The L2 testnets `ape run deploy` knows (the ape-base, ape-optimism and ape-arbitrum plugins, pinned in
# pyproject.toml) and whose EAS it finds in the EAS package.
TESTNETS = ("base:sepolia:node", "optimism:sepolia:node", "arbitrum:sepolia:node")
NETWORKS_HERE = (f"ethereum:local:foundry (an anvil started for this command), {OWN_NODE} (a node you run), "
                 f"{', '.join(TESTNETS)} (or base:sepolia:https://YOUR-RPC)")
PROBE_TIMEOUT = 10.0  # seconds a node has to answer eth_chainId


class BadInput(click.UsageError):
    """Bad input, shown as one line (`Error: <message>`) with exit code 2, before anything is sent."""

    def __init__(self, message: str):
        super().__init__(message, ctx=None)


@contextmanager
def _one_line():
    """Click adds its context to a usage error, and with it the usage text; one line is enough here."""
    try:
        yield
    except click.UsageError as error:
        error.ctx = None
        raise


class OneLineErrors(click.Command):
    """A click command whose usage errors (bad option values included) are one line and exit code 2."""

    def parse_args(self, ctx, args):
        with _one_line():
            return super().parse_args(ctx, args)

    def invoke(self, ctx):
        with _one_line():
            return super().invoke(ctx)


class NetworkCommand(OneLineErrors, ConnectedProviderCommand):
    """Ape's connected command with one-line errors, where an unknown `--network` names the networks that make
    sense here (rather than Ape's every ecosystem), and a node named by URL must answer before Ape connects."""

    def parse_args(self, ctx, args):
        given = list(args)  # click's parser consumes the list it is given
        try:
            return super().parse_args(ctx, args)
        except click.BadParameter as error:
            if error.param is None or error.param.name != "network":
                raise
            raise BadInput(f"no network {_option_value(given, '--network')!r} here; use {NETWORKS_HERE}") from None

    def invoke(self, ctx):
        if ctx.params.get("backend") == "memory":  # the market in memory: no node, and no provider to connect
            with _one_line():
                return self._invoke(ctx)
        with _one_line():
            check_node_answers(ctx.params.get("network"))
        return super().invoke(ctx)


def _option_value(args: list[str], name: str) -> str:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return ""


def check_node_answers(provider) -> None:
    """Refuse (BadInput) a node the user named that does not answer, before Ape connects to it: Ape would
    otherwise start an anvil of its own at a local URL that is down, or fail with a traceback."""
    from ape.api import ProviderAPI
    from ape.exceptions import ApeException

    if not isinstance(provider, ProviderAPI):
        return  # no network (`--network none`)
    if provider.name == "foundry":
        url = provider.settings.host
        if url in (None, "auto"):
            return  # Ape starts an anvil of its own for the command
        hint = "start it, or give another host in --provider-settings"
    else:
        try:
            url = provider.uri
        except ApeException as error:  # no URL configured and none of Ape's public ones answered
            choice = f"{provider.network.ecosystem.name}:{provider.network.name}"
            raise BadInput(f"no node for {choice} ({error}); name one: --network {choice}:https://YOUR-RPC") from None
        hint = "start it, or name another in --network"
    probe_node(url, hint)


def probe_node(url: str, hint: str) -> int:
    """The chain id the node at `url` reports; BadInput naming the URL if nothing answers JSON-RPC there.
    Only HTTP(S) URLs are probed (a WebSocket or IPC node is left to the client): 0 for those."""
    if not url.startswith(("http://", "https://")):
        return 0
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:
            return int(json.loads(response.read())["result"], 16)
    except urllib.error.URLError as error:
        reason = getattr(error, "reason", error)
    except (OSError, ValueError, KeyError, TypeError) as error:  # a timeout, or an answer that is not JSON-RPC
        reason = error or type(error).__name__
    raise BadInput(f"no node answers at {url} ({reason}): {hint}")


def load_deployment(path: str):
    """The `Deployment` in a deployments file (`ape run deploy`) or a run's deployment.json; BadInput if not."""
    try:
        return Deployment.load(Path(path))
    except ValueError as error:  # not JSON, or a deployments file without a complete deployment yet
        raise BadInput(f"--deployment {path}: {error}") from error
    except TypeError:  # JSON, but not a deployment's fields
        raise BadInput(f"--deployment {path} is not a deployment record (deployments/<network>.json from "
                       "`ape run deploy`, or a simulation run's deployment.json)") from None


def check_rpc(rpc: str, deployment: Deployment, deployment_file: str) -> None:
    """`--rpc` must answer, and be the chain `--deployment` is on; BadInput naming the URL or the chains if not."""
    chain_id = probe_node(rpc, "start it, or name another with --rpc")
    if chain_id and chain_id != deployment.chain_id:
        raise BadInput(f"--deployment {deployment_file} is for chain {deployment.chain_id}, but the node at {rpc} is "
                       f"chain {chain_id}")


def load_key(alias: str | None, test_account: int | None):
    """The eth-account key of `--account ALIAS` (its Ape keystore; the passphrase from
    APE_ACCOUNTS_<alias>_PASSPHRASE or a prompt) or `--test-account N` (Ape's test accounts, local chains)."""
    from ape import accounts
    from eth_account import Account

    if (alias is None) == (test_account is None):
        raise BadInput("give exactly one of --account ALIAS or --test-account N")
    if test_account is not None:
        available = len(accounts.test_accounts)
        if not 0 <= test_account < available:
            raise BadInput(f"--test-account must be 0 to {available - 1}, got {test_account}")
        return Account.from_key(accounts.test_accounts[test_account].private_key)
    try:
        account = accounts.load(alias)
    except Exception as error:  # noqa: BLE001 - Ape raises several kinds for a missing alias
        raise BadInput(f"no Ape account {alias!r} ({error}); see `ape accounts list`") from error
    keystore = json.loads(Path(account.keyfile_path).read_text())
    passphrase = os.environ.get(f"APE_ACCOUNTS_{alias}_PASSPHRASE") or click.prompt(
        f"passphrase for {alias}", hide_input=True
    )
    try:
        return Account.from_key(Account.decrypt(keystore, passphrase))
    except ValueError as error:
        raise BadInput(f"wrong passphrase for {alias}") from error
