def check_stdin(text):
    return text == "stdin"


def read_file(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None
