"""The chain layer: JSON-RPC, ABIs, one codec for calls and logs, the scheme's message table, log reading,
transaction signing and sending. Everything else reaches a node through here."""
