"""The agent runtime: an act/react loop over a mailbox fed by contract events, dialogues checked against
the scheme's valid replies, locks on capacity and funds, and an outbox of locally signed transactions."""
