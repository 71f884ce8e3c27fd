"""A module at the project's root, imported by the predictor in my-subdir."""


def shout(text: str) -> str:
    return text.upper() + "!"
