"""Configuration, secrets, logging and the clients of the api's backing services."""
