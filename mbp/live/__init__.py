"""Live runs from the dashboard: the demo policy, the dashboard's store and child-process jobs."""
