"""HTTP routers, one per resource; handlers stay thin."""
