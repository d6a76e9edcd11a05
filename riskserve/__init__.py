"""riskserve: the serving side of tabular risk models (specs, settings, backends, decisions)."""
