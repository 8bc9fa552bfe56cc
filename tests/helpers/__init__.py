"""Test helpers shared by unit and integration tests (real local servers)."""
