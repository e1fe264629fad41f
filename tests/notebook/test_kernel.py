#!/usr/bin/python3
"""The locus Jupyter kernel, driven headless by Debian's jupyter_client as Jupyter drives it.

    /usr/bin/python3 tests/notebook/test_kernel.py KERNELS_DIR MODEL_DIR PHOTO

KERNELS_DIR holds share/jupyter/kernels/locus (`locus kernel install --prefix`). Each check prints
"ok: ..." or "FAILED: ..."; the exit status is the number of failures. Run by tests/run.
"""
import os
import sys
import time

os.environ["JUPYTER_PATH"] = os.path.join(sys.argv[1], "share", "jupyter")
MODEL, PHOTO = sys.argv[2], sys.argv[3]
FIXTURES = os.path.dirname(os.path.dirname(os.path.abspath(MODEL)))

from jupyter_client.manager import KernelManager  # noqa: E402
from jupyter_client.session import Session  # noqa: E402

from checks import check, png_size  # noqa: E402
import checks  # noqa: E402


def run(kc, code, timeout=60, **kw):
    """Executes code; returns (reply content, [(msg_type, content), ...] of its iopub messages)."""
    msg_id = kc.execute(code, **kw)
    outs = []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
        outs.append((m["msg_type"], m["content"], time.monotonic()))
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"], outs


def of(outs, t):
    return [c for (mt, c, _) in outs if mt == t]


def start():
    km = KernelManager(kernel_name="locus")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def main():
    km, kc = start()
    info = kc.kernel_info(reply=True, timeout=10)["content"]
    check(info["status"] == "ok" and info["implementation"] == "locus" and info["protocol_version"] >= "5.3"
          and info["language_info"]["name"] == "lua", "kernel_info", info)

    reply, outs = run(kc, "x = 41\nprint('hi', x)\nio.write('no newline')\nio.stderr:write('to stderr\\n')\nx + 1")
    streams = of(outs, "stream")
    check(reply["status"] == "ok" and reply["execution_count"] == 1, "execute replies ok with a count", reply)
    check([(s["name"], s["text"]) for s in streams] == [("stdout", "hi\t41\n"), ("stdout", "no newline"),
                                                        ("stderr", "to stderr\n")], "print, io.write, io.stderr stream", streams)
    check(of(outs, "execute_input")[0]["code"].startswith("x = 41"), "execute_input echoes the code")
    res = of(outs, "execute_result")
    check(len(res) == 1 and res[0]["data"]["text/plain"] == "42" and res[0]["execution_count"] == 1,
          "the last expression is the execute_result", res)

    reply, outs = run(kc, "x")
    check(of(outs, "execute_result")[0]["data"]["text/plain"] == "41" and reply["execution_count"] == 2,
          "cells share one Lua state", outs)

    reply, outs = run(kc, "print('one')\nlocal t = os.clock() while os.clock() - t < 1 do end\nprint('two')")
    s = [(c["text"], t) for (mt, c, t) in outs if mt == "stream"]
    check(len(s) == 2 and s[1][1] - s[0][1] > 0.5, "stdout streams as it comes (a second apart)", s)

    reply, outs = run(kc, "local ffi = require 'ffi'\nffi.cdef 'int puts(const char *)'\nffi.C.puts('from C')")
    check(any("from C" in c["text"] for c in of(outs, "stream")), "what C writes to stdout reaches the cell", outs)

    reply, outs = run(kc, "local function f() error('boom') end\nf()")
    err = of(outs, "error")
    check(reply["status"] == "error" and reply["ename"] == "LuaError" and "In [5]:1: boom" in reply["evalue"]
          and "\tIn [5]:2: in the cell" in reply["traceback"] and err and err[0]["evalue"] == reply["evalue"],
          "an error is an error message with its Lua traceback", reply)

    reply, outs = run(kc, "for i = 1, 3 do", timeout=10)
    check(reply["status"] == "error", "an incomplete cell is an error", reply)
    reply, outs = run(kc, "y = 5", silent=True)
    check(reply["status"] == "ok" and not of(outs, "execute_input"), "a silent cell echoes nothing")
    reply, outs = run(kc, "y")
    check(of(outs, "execute_result")[0]["data"]["text/plain"] == "5" and reply["execution_count"] == 7,
          "a silent cell does not count", reply)

    c = kc.complete("locus.ten", reply=True, timeout=10)["content"]
    check(c["status"] == "ok" and "locus.tensor" in c["matches"] and c["cursor_start"] == 0 and c["cursor_end"] == 9,
          "complete: table fields", c)
    run(kc, "t = locus.tensor.ones{2}")
    c = kc.complete("é = t:nar", reply=True, timeout=10)["content"]
    check("t:narrow" in c["matches"] and c["cursor_start"] == 4 and c["cursor_end"] == 9, "complete: a tensor's methods, "
          "positions in characters", c)
    i = kc.inspect("locus.load", reply=True, timeout=10)["content"]
    check(i["found"] and i["data"]["text/plain"].startswith("locus.load(dir, opts)"), "inspect: signature and doc", i)
    i = kc.inspect("nosuch.thing", reply=True, timeout=10)["content"]
    check(i["status"] == "ok" and not i["found"], "inspect: not found", i)

    for code, want in [("x = 1", "complete"), ("for i = 1, 3 do", "incomplete"), ("x = = 1", "invalid")]:
        msg = kc.session.msg("is_complete_request", {"code": code})
        kc.shell_channel.send(msg)
        r = kc.get_shell_msg(timeout=10)["content"]
        check(r["status"] == want, "is_complete: %r is %s" % (code, want), r)

    msg = kc.session.msg("comm_info_request", {})
    kc.shell_channel.send(msg)
    r = kc.get_shell_msg(timeout=10)["content"]
    check(r["status"] == "ok" and r["comms"] == {}, "comm_info: no comms", r)

    # a message signed with another key is dropped; the kernel goes on
    bad = Session(key=b"not the key")
    kc.shell_channel.session, good = bad, kc.shell_channel.session
    kc.shell_channel.send(bad.msg("kernel_info_request", {}))
    kc.shell_channel.session = good
    try:
        kc.get_shell_msg(timeout=2)
        check(False, "a message with a bad signature is dropped", "it was answered")
    except Exception:  # queue.Empty: no reply
        check(True, "a message with a bad signature is dropped")
    check(kc.kernel_info(reply=True, timeout=10)["content"]["status"] == "ok", "the kernel answers after a bad signature")

    # io.read asks the frontend
    msg_id = kc.execute("greeting = 'hello ' .. io.read()\ngreeting", allow_stdin=True)
    req = kc.get_stdin_msg(timeout=20)
    check(req["msg_type"] == "input_request", "io.read sends an input_request", req)
    kc.input("lua")
    reply, outs = None, []
    while True:
        m = kc.get_iopub_msg(timeout=20)
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "execute_result":
            check(m["content"]["data"]["text/plain"] == '"hello lua"', "io.read returns the input_reply", m["content"])
            break

    # interrupts: SIGINT (Jupyter's default) and the control channel's interrupt_request
    for how in ("signal", "message"):
        msg_id = kc.execute("n = 0\nwhile true do n = n + 1 end")
        time.sleep(3)
        check(kc.hb_channel.is_beating(), "the heartbeat answers while a cell runs (%s)" % how)
        if how == "signal":
            km.interrupt_kernel()
        else:
            kc.control_channel.send(kc.session.msg("interrupt_request", {}))
            r = kc.get_control_msg(timeout=10)
            check(r["msg_type"] == "interrupt_reply", "interrupt_request is answered on control", r["msg_type"])
        while True:
            r = kc.get_shell_msg(timeout=20)
            if r["parent_header"].get("msg_id") == msg_id:
                break
        check(r["content"]["status"] == "error" and r["content"]["ename"] == "Interrupted",
              "an interrupt (%s) stops a running loop" % how, r["content"])
        reply, outs = run(kc, "n > 0 and x")
        check(of(outs, "execute_result")[0]["data"]["text/plain"] == "41", "the kernel and its state survive (%s)" % how)

    # rich display: tensors, images, a grounding answer drawn on the photo, progress in place
    reply, outs = run(kc, "locus.tensor.from{{1, 2}, {3, 4}}")
    d = of(outs, "execute_result")[0]["data"]
    check("<table>" in d["text/html"] and "tensor f32 [2, 2]" in d["text/html"] and "<td>4</td>" in d["text/html"],
          "a tensor shows as an HTML table", d)
    reply, outs = run(kc, "img = locus.image.read(%r)\ndisplay(img)\nimg:narrow(1, 1, 8)" % PHOTO)
    shown = of(outs, "display_data")
    check(shown and png_size(shown[0]["data"]["image/png"]) == (200, 120) and "image/png" in of(outs, "execute_result")[0]["data"],
          "display() and a cell's value show an image as PNG", shown)
    reply, outs = run(kc, "m = locus.load(%r)\nr = m:ground{image = %r, question = 'Where is the dog?', max_new_tokens = 6}\nr"
                      % (MODEL, PHOTO), timeout=120)
    updates = of(outs, "update_display_data")
    firsts = [c for c in of(outs, "display_data") if "loading" in c["data"].get("text/plain", "")]
    check(firsts and updates and updates[-1]["transient"]["display_id"] == firsts[0]["transient"]["display_id"]
          and "4/4" in updates[-1]["data"]["text/plain"], "loading a model shows progress updated in place", outs)
    tokens = [c["text"] for c in of(outs, "stream")]
    result = of(outs, "execute_result")[0]["data"]
    check(len(tokens) >= 2 and result["image/png"] and result["text/plain"].startswith("".join(tokens).strip()[:3]),
          "generated text streams as it comes, then the answer and the photo", (tokens, result.get("text/plain")))

    video, sound = os.path.join(FIXTURES, "video", "count.mp4"), os.path.join(FIXTURES, "audio", "tone_32k.flac")
    reply, outs = run(kc, "rv = m:ground{video = %r, question = 'When?', max_new_tokens = 4}\nrv" % video, timeout=120)
    d = of(outs, "execute_result")[0]["data"]
    check("image/png" in d and png_size(d["image/png"])[0] > png_size(d["image/png"])[1],
          "a video answer shows a strip of frames over its timeline", d.get("text/plain"))
    reply, outs = run(kc, "ra = m:ground{audio = %r, question = 'What is it?', max_new_tokens = 4}\nra" % sound, timeout=120)
    d = of(outs, "execute_result")[0]["data"] if of(outs, "execute_result") else {}
    check("image/png" in d and png_size(d["image/png"]) == (800, 120), "a sound answer shows its waveform", (reply, d.keys()))
    reply, outs = run(kc, "display.register(function(v) return type(v) == 'table' and v.kind == 'note' end,\n"
                      "  function(v) return {['text/plain'] = 'note ' .. v.text, ['text/markdown'] = '**' .. v.text .. '**'} end)\n"
                      "display({kind = 'note', text = 'first'}, {id = 'n1'})\ndisplay.update({kind = 'note', text = 'second'}, 'n1')\n"
                      "{kind = 'note', text = 'hi'}")
    shown, updated = of(outs, "display_data"), of(outs, "update_display_data")
    check(shown and updated and shown[0]["transient"]["display_id"] == "n1" == updated[0]["transient"]["display_id"]
          and updated[0]["data"]["text/markdown"] == "**second**"
          and of(outs, "execute_result")[0]["data"]["text/markdown"] == "**hi**",
          "display.register, display with an id and display.update", outs)

    # an interrupt while idle (after the model's threads exist) waits for no cell and breaks nothing
    km.interrupt_kernel()
    time.sleep(1)
    reply, outs = run(kc, "x")
    check(reply["status"] == "ok" and of(outs, "execute_result")[0]["data"]["text/plain"] == "41",
          "an interrupt while idle is dropped", reply)

    # shutdown and restart
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=60)
    reply, outs = run(kc, "x == nil")
    check(of(outs, "execute_result")[0]["data"]["text/plain"] == "true", "a restart starts a fresh Lua state")
    km.shutdown_kernel(now=False)
    check(not km.is_alive(), "shutdown_request ends the kernel")
    kc.stop_channels()
    return checks.failures


if __name__ == "__main__":
    sys.exit(main())
