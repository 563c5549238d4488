{
  "targets": [
    {
      "target_name": "rsyscall_native",
      "sources": ["native/addon.c", "native/poll.c", "native/server.c", "native/syscall.S"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra",
                 "-fno-stack-protector", "-fno-builtin", "-fcf-protection=none"],
      "ldflags": ["-Wl,-z,now"]
    }
  ]
}
