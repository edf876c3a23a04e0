"""The blocking chain client over HTTP (batches answered out of order, errors, a busy node retried) and the
codec's decoding of call results, without a chain: a tiny JSON-RPC server answers from a table."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from eth_abi import encode
from eth_utils import to_checksum_address

from agents.chain.codec import ContractCodec
from agents.chain.rpc import RetryPolicy, RPCError
from agents.chain.sync import SyncClient, http_batch_request, http_request

ANSWERS = {"eth_blockNumber": "0x10", "eth_chainId": "0x7a69"}


class FakeNode(BaseHTTPRequestHandler):
    busy_answers = 0  # how many requests still get a 503

    def do_POST(self):
        if FakeNode.busy_answers:
            FakeNode.busy_answers -= 1
            self.send_response(503)
            self.end_headers()
            return
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if isinstance(payload, list):
            answer = [self.answer(call) for call in reversed(payload)]  # JSON-RPC allows any order
        else:
            answer = self.answer(payload)
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    @staticmethod
    def answer(call: dict) -> dict:
        if call["method"] not in ANSWERS:
            return {"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32601, "message": "no such method"}}
        return {"jsonrpc": "2.0", "id": call["id"], "result": ANSWERS[call["method"]]}

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def url():
    server = HTTPServer(("127.0.0.1", 0), FakeNode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_batch_is_one_request_with_results_in_call_order(url):
    client = SyncClient.connect(url)
    assert client.batch([("eth_chainId", []), ("eth_blockNumber", []), ("eth_chainId", [])]) == [
        "0x7a69", "0x10", "0x7a69"
    ]
    assert (client.chain_id(), client.block_number()) == (31337, 16)


def test_an_error_in_a_batch_raises_it(url):
    with pytest.raises(RPCError, match="no such method"):
        http_batch_request(url)([("eth_blockNumber", []), ("eth_nothing", [])])


def test_a_busy_node_is_retried(url):
    FakeNode.busy_answers = 2
    retry = RetryPolicy(attempts=3, first_delay=0.01, max_delay=0.01)
    assert http_request(url, retry)("eth_blockNumber", []) == "0x10"
    FakeNode.busy_answers = 1
    assert http_batch_request(url, retry)([("eth_chainId", [])]) == ["0x7a69"]


def test_decode_result_gives_the_shapes_decode_log_gives():
    abi = [{
        "type": "function", "name": "get", "stateMutability": "view", "inputs": [],
        "outputs": [
            {"name": "who", "type": "address"},
            {"name": "entry", "type": "tuple", "components": [
                {"name": "amount", "type": "uint96"}, {"name": "owners", "type": "address[]"},
            ]},
        ],
    }]
    owner = "0x" + "ab" * 20
    data = encode(["address", "(uint96,address[])"], [owner, (7, [owner])])
    checksummed = to_checksum_address(owner)
    assert ContractCodec(abi).decode_result("get", data) == (checksummed, {"amount": 7, "owners": [checksummed]})
