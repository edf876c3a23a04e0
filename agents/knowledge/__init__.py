"""What the chain says about the market: history as DataFrames, reputations computed from it, and the
service directory of providers on EAS."""
