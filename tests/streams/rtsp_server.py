"""A real RTSP test server (gst-rtsp-server), run by Debian's /usr/bin/python3.

Usage: rtsp_server.py PORT [PATH] [--fps N] [--size WxH]

Serves a live test pattern as H.264 (openh264enc) at rtsp://127.0.0.1:PORT/PATH, or as
JPEG/RTP when no H.264 encoder is installed. Prints "READY" once listening. It is started
by the tests as a separate process so they can kill it (SIGKILL) or freeze it (SIGSTOP).
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("path", nargs="?", default="cam")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--size", default="320x240")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    Gst.init(None)
    caps = f"video/x-raw,width={width},height={height},framerate={args.fps}/1"
    if Gst.ElementFactory.find("openh264enc") is not None:
        encode = (
            f"videoconvert ! openh264enc gop-size={args.fps} ! h264parse config-interval=-1 "
            "! rtph264pay name=pay0 pt=96"
        )
    else:
        encode = "videoconvert ! jpegenc quality=80 ! rtpjpegpay name=pay0 pt=26"
    launch = f"( videotestsrc is-live=true pattern=ball ! {caps} ! {encode} )"

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    server.get_mount_points().add_factory("/" + args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr)
        sys.exit(1)
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
