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

"""The backend sections ``add`` writes, in the seed's shape.

The keys and their order are those of the product this package replaces
(README, "cinder.conf"), so a storage made by hand and one made by
``cinder-auxo-storage`` read the same.

A section that already exists (devstack writes its backends' sections
before it makes their storages) is merged into rather than refused: the
keys it lacks are added, and a key that says something else about the
storage refuses the add. ``write`` tells what it did, and ``unwrite``
undoes exactly that.
"""

from cinder_auxo import exception

LVMSAN_DRIVER = 'cinder_auxo.drivers.lvmsan.LVMSANDriver'
LOCAL_DRIVER = 'cinder_auxo.drivers.local.LocalFileDriver'


# Keys ``add`` only gives a default for: a section that has them keeps its
# own values (they are the operator's policy, not what the storage is).
DEFAULTED = frozenset(['iscsi_protocol', 'volume_clear_size', 'volume_type',
                       'image_volume_cache_enabled', 'image_base_path',
                       'image_format'])


def _cache():
    return [('image_volume_cache_enabled', 'True'),
            ('image_base_path', ''),
            ('image_format', 'qcow2')]


def san(req, record):
    items = [('volume_driver', LVMSAN_DRIVER),
             ('volume_backend_name', record['backend'])]
    if req.type == 'iscsi':
        ip, _sep, port = req.portal.rpartition(':')
        items += [('iscsi_protocol', 'iscsi'),
                  ('iscsi_port', port),
                  ('iscsi_ip_address', ip.strip('[]')),
                  ('iscsi_helper', 'iscsisan'),
                  ('iscsi_target_prefix', req.iqn)]
    else:
        items += [('iscsi_helper', 'fcsan'),
                  ('fc_target_wwpns', req.wwpn or '')]
    items += [('target_lun', req.lun),
              ('volume_clear_size', req.volume_clear_size),
              ('volume_group', record['volume_group']),
              ('chap_username', req.chap.username or ''),
              ('chap_password', req.chap.password or '')]
    return items + _cache()


def local(req, record):
    return [('volume_driver', LOCAL_DRIVER),
            ('volume_backend_name', record['backend']),
            ('mount_point', req.mount_point),
            ('image_base_path', ''),
            ('volume_type', 'qcow2'),
            ('image_format', 'qcow2'),
            ('image_volume_cache_enabled', 'True')]


def section(req, record):
    return san(req, record) if req.usage == 'block' else local(req, record)


def _text(value):
    return '' if value is None else str(value)


def check_mergeable(conf, backend):
    """Refuse an existing ``[backend]`` that is not a backend's section.

    ``[database]``, ``[keystone_authtoken]`` and the like are neither
    listed in ``enabled_backends`` nor name a ``volume_driver``.
    """
    if backend in conf.sections() and \
            backend not in conf.enabled_backends() and \
            conf.get(backend, 'volume_driver') is None:
        raise exception.StorageNameInUse(
            name=backend, where='%s, a section that is not a backend' %
            conf.path)


def check_agrees(conf, backend, items):
    """Refuse an existing ``[backend]`` that describes another storage.

    Only the keys in ``items`` that the section has are compared; those
    ``add`` only gives a default for (``DEFAULTED``) are not.
    """
    have = conf.items(backend)
    for key, value in items:
        if key in have and key not in DEFAULTED and \
                have[key].strip() != _text(value):
            raise exception.SectionConflict(
                section=backend, path=conf.path, key=key, value=have[key],
                wanted=_text(value))


def _merge(conf, backend, items):
    check_mergeable(conf, backend)
    check_agrees(conf, backend, items)
    have = conf.items(backend)
    added = []
    for key, value in items:
        if key not in have:
            conf.add_key(backend, key, _text(value))
            added.append(key)
    return added


def write(conf, backend, items):
    """Write ``[backend]`` into ``conf`` (a ConfFile) and enable it.

    What was done, for the storage's record: ``conf_section`` is
    ``made`` (appended whole) or ``merged``, ``conf_keys`` the keys this
    wrote, ``conf_enabled`` whether the backend was added to
    ``enabled_backends``.
    """
    if backend in conf.sections():
        done = {'conf_section': 'merged',
                'conf_keys': _merge(conf, backend, items)}
    else:
        conf.add_section(backend, items)
        done = {'conf_section': 'made', 'conf_keys': [k for k, _v in items]}
    done['conf_enabled'] = backend not in conf.enabled_backends()
    conf.add_backend(backend)
    return done


def again(record, done):
    """``write``'s answer for a storage added again, kept cumulative.

    The section and ``enabled_backends`` entry the first ``add`` made
    stay its own, and so do the keys it wrote.
    """
    if record.get('conf_section') == 'made':
        done['conf_section'] = 'made'
    done['conf_keys'] = list(record.get('conf_keys', [])) + [
        k for k in done['conf_keys'] if k not in record.get('conf_keys', [])]
    done['conf_enabled'] = done['conf_enabled'] or bool(
        record.get('conf_enabled'))
    return done


def unwrite(conf, record):
    """Undo what ``write`` did for ``record``.

    Records made before sections were merged have no ``conf_*`` keys:
    their section and ``enabled_backends`` entry were always made.
    """
    backend = record['backend']
    if record.get('conf_section', 'made') == 'made':
        conf.remove_section(backend)
    else:
        for key in record.get('conf_keys', []):
            conf.remove_key(backend, key)
    if record.get('conf_enabled', True):
        conf.remove_backend(backend)
