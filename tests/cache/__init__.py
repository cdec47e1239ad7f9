"""Tests of the cache package: the store contract, tiers, faults and durability."""
