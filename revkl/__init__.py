"""revkl: the application layer (command line, `reproduce`) over bounds/, synthetic/, llm_experiments/ and figures/."""

__version__ = "0.1.0"
