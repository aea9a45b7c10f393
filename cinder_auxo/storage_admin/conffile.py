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

"""cinder.conf edits that keep every other byte of the file.

oslo.config and configparser rewrite a whole file (comments, order and
spacing lost), so sections and the ``enabled_backends`` entry are edited
here as lines: a section is appended at the end or cut out whole, and an
``enabled_backends`` value gains or loses one name in place. Writes are
atomic (a temporary file in the same directory, fsync, rename) and the
file as it was before the first write is kept as a backup.
"""

import os
import re
import shutil
import tempfile

from cinder_auxo import exception

_HEADER = re.compile(r'^\[(?P<name>[^\]]+)\]\s*$')
# oslo.config's ini parser: "key = value" or "key: value"; comments start
# with '#' or ';'.
_KEY = re.compile(r'^(?P<key>[^=:\s#;\[][^=:]*?)\s*[=:]\s*'
                  r'(?P<value>.*?)(?P<eol>\r?\n?)$')
BACKUP_SUFFIX = '.auxo-backup'


def atomic_write(path, data):
    """Replace ``path`` by ``data`` (bytes) so readers see old or new.

    The new file keeps the old one's mode and owner (cinder.conf is
    usually root:cinder 0640).
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path),
                               dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if st is not None:
            os.chmod(tmp, st.st_mode & 0o7777)
            os.chown(tmp, st.st_uid, st.st_gid)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    # The rename itself is durable only once the directory is synced.
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class ConfFile(object):
    """One ini file as lines; ``save()`` writes it back atomically."""

    def __init__(self, path):
        self.path = path
        with open(path, 'rb') as f:
            self.original = f.read()
        # surrogateescape: bytes that are not UTF-8 survive the round trip.
        self.lines = self.original.decode(
            'utf-8', 'surrogateescape').splitlines(keepends=True)

    @property
    def data(self):
        return ''.join(self.lines).encode('utf-8', 'surrogateescape')

    # -- reading ---------------------------------------------------------

    def _headers(self):
        """(index, name) of every section header, in file order."""
        return [(i, m.group('name')) for i, m in
                ((i, _HEADER.match(line)) for i, line in
                 enumerate(self.lines)) if m]

    def sections(self):
        return [name for _i, name in self._headers()]

    def _span(self, name):
        """[start, end) of section ``name``: its header to the next one."""
        headers = self._headers()
        for n, (i, found) in enumerate(headers):
            if found == name:
                end = (headers[n + 1][0] if n + 1 < len(headers)
                       else len(self.lines))
                return i, end
        return None

    def _find(self, section, key):
        span = self._span(section)
        if span is None:
            return None, None
        for i in range(span[0] + 1, span[1]):
            m = _KEY.match(self.lines[i])
            if m and m.group('key') == key:
                return i, m
        return None, None

    def get(self, section, key):
        _i, m = self._find(section, key)
        return m.group('value') if m else None

    def items(self, section):
        span = self._span(section)
        if span is None:
            return {}
        found = {}
        for i in range(span[0] + 1, span[1]):
            m = _KEY.match(self.lines[i])
            if m:
                found[m.group('key')] = m.group('value')
        return found

    def enabled_backends(self):
        value = self.get('DEFAULT', 'enabled_backends') or ''
        return [b.strip() for b in value.split(',') if b.strip()]

    # -- editing ---------------------------------------------------------

    def add_section(self, name, items):
        """Append ``[name]`` with ``items`` ((key, value) pairs) at the end.

        A blank line separates it from what is above; ``remove_section``
        takes that line away again.
        """
        if self._span(name) is not None:
            raise exception.StorageNameInUse(name=name, where=self.path)
        if self.lines and not self.lines[-1].endswith('\n'):
            self.lines[-1] += '\n'
        new = ['\n'] if self.lines else []
        new.append('[%s]\n' % name)
        for key, value in items:
            value = '' if value is None else str(value)
            new.append(('%s = %s\n' % (key, value)).replace(' \n', '\n'))
        self.lines.extend(new)

    def remove_section(self, name):
        span = self._span(name)
        if span is None:
            return False
        start, end = span
        # A section in the middle goes with its trailing blank lines (the
        # one above keeps its own); the last one with the blank line that
        # add_section put before it.
        if end == len(self.lines) and start > 0 and \
                not self.lines[start - 1].strip():
            start -= 1
        del self.lines[start:end]
        return True

    def add_key(self, section, key, value):
        """Append ``key = value`` to an existing section that lacks it.

        It goes after the section's last non-blank line, so the blank
        lines that separate it from the next section stay where they are;
        ``remove_key`` takes that one line away again.
        """
        span = self._span(section)
        if span is None:
            raise exception.StorageAdminError(
                reason='%s has no section [%s]' % (self.path, section))
        if self._find(section, key)[1] is not None:
            raise exception.StorageNameInUse(
                name='%s in [%s]' % (key, section), where=self.path)
        start, end = span
        last = start
        for i in range(end - 1, start, -1):
            if self.lines[i].strip():
                last = i
                break
        if not self.lines[last].endswith('\n'):
            self.lines[last] += '\n'
        value = '' if value is None else str(value)
        self.lines.insert(last + 1, ('%s = %s\n' % (key, value)).replace(
            ' \n', '\n'))

    def remove_key(self, section, key):
        i, _m = self._find(section, key)
        if i is None:
            return False
        del self.lines[i]
        return True

    def add_backend(self, name):
        """Add ``name`` to ``[DEFAULT] enabled_backends``."""
        if name in self.enabled_backends():
            return
        i, m = self._find('DEFAULT', 'enabled_backends')
        if m is None:
            self._insert_default('enabled_backends = %s\n' % name)
            return
        value = m.group('value')
        sep = ',' if value.strip() else ''
        line = self.lines[i]
        cut = m.end('value')
        self.lines[i] = line[:cut] + sep + name + line[cut:]

    def remove_backend(self, name):
        i, m = self._find('DEFAULT', 'enabled_backends')
        if m is None or name not in self.enabled_backends():
            return False
        value = m.group('value')
        parts = value.split(',')
        kept = [p for p in parts if p.strip() != name]
        if kept and parts[-1].strip() == name:
            new = ','.join(kept)
        elif kept:
            # Not last: the next entry keeps its own leading spacing.
            idx = [p.strip() for p in parts].index(name)
            new = ','.join(parts[:idx] + parts[idx + 1:])
            if idx == 0:
                new = new.lstrip()
        else:
            new = ''
        line = self.lines[i]
        self.lines[i] = (line[:m.start('value')] + new +
                         line[m.end('value'):])
        return True

    def _insert_default(self, line):
        span = self._span('DEFAULT')
        if span is None:
            self.lines[0:0] = ['[DEFAULT]\n', line, '\n']
        else:
            self.lines.insert(span[0] + 1, line)

    # -- writing ---------------------------------------------------------

    def save(self):
        """Write the edited lines, keeping the file as it was as backup."""
        backup = self.path + BACKUP_SUFFIX
        if self.data == self.original:
            return
        shutil.copy2(self.path, backup)
        atomic_write(self.path, self.data)

    def restore(self):
        """Put the file back as it was read (rollback of a failed add)."""
        atomic_write(self.path, self.original)
        self.lines = self.original.decode(
            'utf-8', 'surrogateescape').splitlines(keepends=True)
