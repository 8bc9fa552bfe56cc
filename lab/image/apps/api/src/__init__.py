"""copilotos api, lab stand-in (laid out as apps/api/src of copilotos-bridge)."""
