#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Desktops boot from cinder_auxo volumes through nova.

Needs the stack's compute part (``auxo-stack up --compute``; the e2e
runner starts it). A server boots from a volume made from a Glance image
on LocalFileDriver: nova-compute, through ``cinder-auxo-nova-compute``,
opens the volume's qcow2 chain; the guest (``tools/stack/guest-init.sh``)
reports on its console what its disks hold and writes known patterns to
them. After the server is gone the patterns are read back from the
volumes' files, the cached base is unchanged, and a second desktop from
the same image still sees the original content.
"""

import hashlib
import os
import re
import unittest

from cinder_auxo.tests.e2e import base

MiB = base.MiB
HEAD, MID, GUEST_ROOT, GUEST_DATA = 0x41, 0x42, 0x5a, 0x6b
# Template version 2's first MiB.
HEAD2 = 0x43
# Under TCG a Debian kernel boots in tens of seconds on an idle core;
# a loaded 2-core machine needs far more.
BOOT_TIMEOUT = 600
SERVER_TIMEOUT = 300
COMPUTE_VERSION = 'compute 2.93'


def md5_of(byte, length=MiB):
    return hashlib.md5(bytes([byte]) * length).hexdigest()


class ComputeTest(base.E2ETestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.compute = cls.stack.get('compute')
        if not cls.compute:
            raise unittest.SkipTest(
                'the stack runs without its compute part; start it with '
                '"tools/stack/auxo-stack up --compute"')

    # ------------------------------------------------------------ nova

    def nova(self, method, path, body=None, ok=(200, 201, 202, 204)):
        resp = self.session.request(
            path, method, json=body, raise_exc=False,
            endpoint_filter={'service_type': 'compute',
                             'interface': 'public'},
            headers={'OpenStack-API-Version': COMPUTE_VERSION})
        if resp.status_code not in ok:
            raise AssertionError('%s %s: %d %s' % (
                method, path, resp.status_code, resp.text[:2000]))
        return resp.json() if resp.text else None

    def boot(self, volume_id, name):
        server = self.nova('POST', '/servers', {'server': {
            'name': name,
            'flavorRef': self.flavor_id(),
            # No neutron in the stack: servers have no network.
            'networks': 'none',
            'block_device_mapping_v2': [{
                'boot_index': 0, 'uuid': volume_id,
                'source_type': 'volume', 'destination_type': 'volume',
                'delete_on_termination': False}],
        }})['server']
        self.addCleanup(self._cleanup_server, server['id'])
        return self.wait_server(server['id'], 'ACTIVE')

    def flavor_id(self):
        flavors = self.nova('GET', '/flavors')['flavors']
        return next(f['id'] for f in flavors
                    if f['name'] == self.compute['flavor'])

    def wait_server(self, server_id, status, timeout=SERVER_TIMEOUT):
        def reached():
            server = self.nova('GET', '/servers/%s' % server_id)['server']
            if server['status'] == status:
                return server
            if server['status'] == 'ERROR':
                raise AssertionError('server %s went to ERROR: %s\n%s' % (
                    server_id, server.get('fault'),
                    self.compute_log_errors(server_id)))
            return None
        return base.wait_until('server %s %s' % (server_id, status),
                               reached, timeout, 1)

    def delete_server(self, server_id):
        self.nova('DELETE', '/servers/%s' % server_id)
        base.wait_until('server %s gone' % server_id,
                        lambda: self._server_gone(server_id),
                        SERVER_TIMEOUT, 1)

    def _server_gone(self, server_id):
        resp = self.session.get(
            '/servers/%s' % server_id, raise_exc=False,
            endpoint_filter={'service_type': 'compute'},
            headers={'OpenStack-API-Version': COMPUTE_VERSION})
        return resp.status_code == 404

    def _cleanup_server(self, server_id):
        if not self._server_gone(server_id):
            self.delete_server(server_id)

    def console(self, server_id):
        return self.nova('POST', '/servers/%s/action' % server_id, {
            'os-getConsoleOutput': {'length': None}})['output']

    def guest_says(self, server_id, what, timeout=BOOT_TIMEOUT):
        """The value of the guest's console report ``what``."""
        pattern = re.compile(r'^AUXO-GUEST (%s|error)(?: (\S+))?\s*$'
                             % re.escape(what), re.M)

        def said():
            found = pattern.findall(self.console(server_id))
            for key, value in found:
                if key == 'error':
                    raise AssertionError('the guest reports an error: %s'
                                         % value)
            return found and (found[-1][1] or True)
        return base.wait_until('the guest to report %s' % what, said,
                               timeout, 2)

    def compute_log_errors(self, server_id):
        path = os.path.join(self.stack['stack_dir'], 'logs',
                            'nova-compute.log')
        with open(path, errors='replace') as f:
            lines = [line for line in f
                     if server_id in line and ' ERROR ' in line]
        return ''.join(lines[-40:])

    # ------------------------------------------------------------ tests

    def desktop_image(self, head=HEAD):
        """A root disk with known content, booted by the test kernel."""
        path = base.make_image(
            os.path.join(self.tmp, 'desktop-%x.qcow2' % head), 64 * MiB,
            [(head, 0, MiB), (MID, 16 * MiB, MiB)])
        image_id = self.upload_image(path)
        guest = self.compute['guest_images']
        # cinder copies these into the volume's image metadata, from
        # which nova takes the kernel, ramdisk and command line.
        self.glance.images.update(
            image_id, kernel_id=guest['kernel_id'],
            ramdisk_id=guest['ramdisk_id'],
            os_command_line='console=ttyS0 panic=-1 quiet')
        return image_id

    def stat_of(self, path):
        st = os.stat(path)
        return (st.st_uid, st.st_gid, st.st_mode, st.st_size, st.st_mtime)

    def test_desktop_boots_from_an_image_volume(self):
        image_id = self.desktop_image()
        root = self.create_volume(imageRef=image_id)
        root_path = self.volume_path(root.id)
        [base_path] = self.bases_of(image_id)
        self.assertEqual(base_path, self.backing_of(root_path))
        base_md5 = base.execute('md5sum', base_path).split()[0]
        base_stat = self.stat_of(base_path)

        server = self.boot(root.id, 'auxo-e2e-desktop')
        # The guest sees the disk, never the qcow2 container.
        self.assertEqual(md5_of(HEAD), self.guest_says(server['id'],
                                                       'vda-mib0'))
        self.assertEqual(md5_of(MID), self.guest_says(server['id'],
                                                      'vda-mib16'))
        self.guest_says(server['id'], 'vda-written')
        self.assertEqual('in-use', self.cinder.volumes.get(root.id).status)

        # A data volume attaches and detaches through nova.
        data = self.create_volume()
        self.nova('POST', '/servers/%s/os-volume_attachments' % server['id'],
                  {'volumeAttachment': {'volumeId': data.id}})
        self.wait_volume(data.id, 'in-use')
        self.guest_says(server['id'], 'vdb-written')
        self.nova('DELETE', '/servers/%s/os-volume_attachments/%s'
                  % (server['id'], data.id))
        self.wait_volume(data.id, 'available')
        self.guest_says(server['id'], 'vdb-gone')

        self.delete_server(server['id'])
        self.wait_volume(root.id, 'available')

        # What the guest wrote is in the volumes' own files.
        self.assertEqual(root_path, self.volume_path(root.id))
        self.assert_reads(root_path, GUEST_ROOT, 32 * MiB, MiB)
        self.assert_reads(root_path, HEAD, 0, MiB)
        self.assert_reads(root_path, MID, 16 * MiB, MiB)
        self.assert_reads(self.volume_path(data.id), GUEST_DATA, 0, MiB)
        # ... and only there: the shared base did not change, in content,
        # ownership or mode, whatever libvirt relabelled.
        self.assertEqual(base_md5, base.execute('md5sum',
                                                base_path).split()[0])
        self.assertEqual(base_stat, self.stat_of(base_path))
        self.assertEqual(base_path, self.backing_of(root_path))

        # A second desktop of the same image sees the image, not the
        # first desktop's writes.
        second = self.create_volume(imageRef=image_id)
        second_path = self.volume_path(second.id)
        self.assertEqual(base_path, self.backing_of(second_path))
        self.assert_reads(second_path, HEAD, 0, MiB)
        self.assert_reads(second_path, 0, 32 * MiB, MiB)

    def test_rebuild_moves_a_desktop_onto_a_new_image_from_the_cache(self):
        """nova's rebuild of a volume-backed server (2.93): os-reimage."""
        v1 = self.desktop_image()
        v2 = self.desktop_image(HEAD2)
        # v2 is in the storage's cache before the rebuild, as a template
        # version is once its first desktop exists.
        self.create_volume(imageRef=v2)
        [v2_base] = self.bases_of(v2)
        root = self.create_volume(imageRef=v1)
        [v1_base] = self.bases_of(v1)
        v1_md5 = base.execute('md5sum', v1_base).split()[0]
        server = self.boot(root.id, 'auxo-e2e-rebuild')
        self.assertEqual(md5_of(HEAD), self.guest_says(server['id'],
                                                       'vda-mib0'))
        self.guest_says(server['id'], 'vda-written')

        self.nova('POST', '/servers/%s/action' % server['id'],
                  {'rebuild': {'imageRef': v2}})
        # The rebuilt guest boots again: a console of its own.
        base.wait_until('the rebuild to start', lambda: self.nova(
            'GET', '/servers/%s' % server['id'])['server']['status'] !=
            'ACTIVE', 60, 0.5)
        self.wait_server(server['id'], 'ACTIVE')
        self.assertEqual(md5_of(HEAD2), self.guest_says(server['id'],
                                                        'vda-mib0'))
        self.assertEqual(md5_of(MID), self.guest_says(server['id'],
                                                      'vda-mib16'))
        self.guest_says(server['id'], 'vda-written')
        self.delete_server(server['id'])
        self.wait_volume(root.id, 'available')

        # The desktop is an overlay on v2's cached base holding only what
        # the rebuilt guest wrote: no image bytes were copied for it.
        root_path = self.volume_path(root.id)
        self.assertEqual(v2_base, self.backing_of(root_path))
        self.assertLess(base.qemu_info(root_path)['actual-size'], 4 * MiB)
        self.assert_reads(root_path, HEAD2, 0, MiB)
        self.assert_reads(root_path, GUEST_ROOT, 32 * MiB, MiB)
        # v1's base stays cached for the next desktop of v1, unchanged
        # by the guest that ran on it.
        self.assertEqual(v1_md5, base.execute('md5sum', v1_base).split()[0])
