# A first cell for `mcpr exec`: runs in a sandboxed kernel whose working directory is
# this session's folder under workspace/. State persists into the next cell.
import os
import platform
import socket
import time

import mcpr

for step in range(3):  # output streams live: each line arrives as it is printed
    print(f"step {step}")
    time.sleep(0.2)

with open("notes.txt", "w") as f:  # the workspace is writable...
    f.write("written inside the sandbox\n")


def can_reach_network():
    try:
        socket.create_connection(("127.0.0.1", 22), timeout=1).close()
        return True
    except OSError:
        return False


summary = {
    "python": platform.python_version(),
    "cwd": os.getcwd(),
    "uid": os.getuid(),
    "files": sorted(os.listdir(".")),
    "network": can_reach_network(),  # ...the network is not (under namespaces)
    "host_echo": mcpr.host_call("echo", greeting="hello from the kernel"),
}
