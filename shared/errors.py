"""One small exception hierarchy: every error cvqueue raises on purpose is a CvqError."""


class CvqError(Exception):
    """Base class: the message is one line a user can act on."""


class DataError(CvqError):
    """A dataset file is missing, empty, malformed or unusable for training."""


class ArtifactError(CvqError):
    """An artifacts folder is incomplete, tampered with or of the wrong shape."""


class ConfigError(CvqError):
    """A setting read from the environment is missing, malformed or unsafe."""
