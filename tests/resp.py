"""Reading what a client wrote to Redis: what tests/llm/support.py counts and bench/turn_cost.py prints."""


def resp_commands(packed: bytes) -> list[list[bytes]]:
    """The commands of a request in RESP (arrays of bulk strings): one, or several for a pipeline."""
    commands, pos = [], 0
    while pos < len(packed):
        end = packed.index(b"\r\n", pos)
        count, pos, args = int(packed[pos + 1 : end]), end + 2, []
        for _ in range(count):
            end = packed.index(b"\r\n", pos)
            size, pos = int(packed[pos + 1 : end]), end + 2
            args.append(packed[pos : pos + size])
            pos += size + 2
        commands.append(args)
    return commands
