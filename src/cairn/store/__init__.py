"""Persistence: the store interfaces and the backends behind them."""
