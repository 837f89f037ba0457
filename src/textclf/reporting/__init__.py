"""CSV reports, plots and the run folder."""
