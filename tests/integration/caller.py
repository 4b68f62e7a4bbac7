#!/usr/bin/python3
"""One D-Bus call as whatever user runs this (the tests start it through
setpriv), printing the outcome as JSON on stdout.

    caller.py ADDRESS METHOD SIGNATURE ARGS_JSON [options]

ARGS_JSON is a list; a string "@fd:PATH" becomes a file descriptor of PATH
opened for reading here (so with this user's permissions).
Options:
  --path P            object path (default /de/starface/Backup)
  --interface I       (default de.starface.Backup)
  --interactive       set ALLOW_INTERACTIVE_AUTHORIZATION
  --no-wait           send the call and exit at once (disconnecting)
  --wait-job          after a job path came back, wait for its Finished
"""

import argparse
import json
import os
import sys

import dbus
import dbus.lowlevel


def convert(value):
    if isinstance(value, str) and value.startswith("@fd:"):
        # O_NONBLOCK: opening a FIFO must not wait for its writer
        return dbus.types.UnixFd(os.open(value[4:], os.O_RDONLY | os.O_NONBLOCK))
    if isinstance(value, dict):
        return dbus.Dictionary(value, signature="sv")
    if isinstance(value, list):
        return dbus.Array(value, signature="s")
    return value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("method")
    parser.add_argument("signature")
    parser.add_argument("args")
    parser.add_argument("--path", default="/de/starface/Backup")
    parser.add_argument("--interface", default="de.starface.Backup")
    parser.add_argument("--interactive", action="store_true")
    parser.add_argument("--no-wait", action="store_true")
    parser.add_argument("--wait-job", action="store_true")
    opts = parser.parse_args()

    finished = []
    if opts.wait_job:
        from dbus.mainloop.glib import DBusGMainLoop
        conn = dbus.bus.BusConnection(opts.address, mainloop=DBusGMainLoop())
        conn.add_signal_receiver(lambda *args: finished.append([str(a) for a in args]),
                                 signal_name="Finished", dbus_interface="de.starface.Backup")
    else:
        conn = dbus.bus.BusConnection(opts.address)
    msg = dbus.lowlevel.MethodCallMessage("de.starface.Backup", opts.path, opts.interface,
                                          opts.method)
    args = [convert(a) for a in json.loads(opts.args)]
    if args:
        msg.append(*args, signature=opts.signature)
    msg.set_allow_interactive_authorization(opts.interactive)
    if opts.no_wait:
        conn.send_message(msg)
        conn.flush()
        print(json.dumps({"sent": True}))
        return
    try:
        reply = conn.send_message_with_reply_and_block(msg, 120000)
    except dbus.DBusException as e:
        print(json.dumps({"error": e.get_dbus_name(), "message": e.get_dbus_message()}))
        return
    values = reply.get_args_list()
    out = {"reply": json.loads(json.dumps(values, default=str))}
    if opts.wait_job and values:
        from gi.repository import GLib
        job = str(values[0])
        context = GLib.MainContext.default()
        deadline = GLib.get_monotonic_time() + 120 * 1000000
        while (not any(f[0] == job for f in finished)
               and GLib.get_monotonic_time() < deadline):
            context.iteration(True)
        out["finished"] = next((f for f in finished if f[0] == job), None)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
