#!/usr/bin/python3
"""A real RTSP server for test/device/rtsp.test.ts: GStreamer's gst-rtsp-server (Debian:
gir1.2-gst-rtsp-server-1.0) serving one JPEG file as a live 5 fps RTP/JPEG stream at /cam, on
127.0.0.1 and a port the kernel picks. Prints the port on stdout, then serves until killed.
Usage: rtsp-server.py IMAGE.jpg [USER PASSWORD]  (with USER, every request needs Basic auth)."""
import sys

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
image = sys.argv[1]
server = GstRtspServer.RTSPServer()
server.set_address('127.0.0.1')
server.set_service('0')
factory = GstRtspServer.RTSPMediaFactory()
# imagefreeze repeats the decoded image as a live stream; shared: one pipeline for all clients.
factory.set_launch(
    f'( filesrc location="{image}" ! jpegdec ! imagefreeze is-live=true '
    '! video/x-raw,framerate=5/1 ! jpegenc ! rtpjpegpay name=pay0 pt=26 )')
factory.set_shared(True)
if len(sys.argv) > 3:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, 'user')
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(sys.argv[2], sys.argv[3]), token)
    server.set_auth(auth)
    perms = GstRtspServer.RTSPPermissions()
    perms.add_role('user')
    perms.add_permission_for_role('user', GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    perms.add_permission_for_role('user', GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    factory.set_permissions(perms)
server.get_mount_points().add_factory('/cam', factory)
if server.attach(None) == 0:
    sys.exit('rtsp-server: could not bind 127.0.0.1')
print(server.get_bound_port(), flush=True)
GLib.MainLoop().run()
