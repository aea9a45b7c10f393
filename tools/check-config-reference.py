#!/usr/bin/env python3
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

"""Check that the built configuration reference shows every option.

    tools/check-config-reference.py doc/build/html/configuration/reference.html

For each option of ``cinder_auxo.opts.list_opts()`` the page must have the
option's anchor (``<group>.<name>``) and, in the text that follows it, the
first sentence of its help. Exits non-zero with the missing options listed.
"""

import html
import re
import sys

from cinder_auxo import opts


def squeeze(text):
    """Text without white space and with straight quotes, to compare."""
    text = text.replace('\u2019', "'").replace('\u2018', "'")
    return ''.join(text.split())


def page_text(markup):
    """The page as plain text, markup removed."""
    return squeeze(html.unescape(re.sub(r'<[^>]+>', ' ', markup)))


def help_start(help_text):
    """The help's first sentence as the page renders it (no rst marks)."""
    first = re.split(r'(?<=\.)\s|\n\n', help_text.strip(), maxsplit=1)[0]
    return squeeze(first.replace('``', ''))


def missing_options(markup):
    missing = []
    for group, group_opts in opts.list_opts():
        for opt in group_opts:
            anchor = 'id="%s.%s"' % (group, opt.dest)
            at = markup.find(anchor)
            if at < 0:
                missing.append('%s.%s: no entry' % (group, opt.dest))
                continue
            after = page_text(markup[at:])
            if not opt.help or help_start(opt.help) not in after:
                missing.append('%s.%s: help text not shown' %
                               (group, opt.dest))
    return missing


def main(argv):
    if len(argv) != 2:
        sys.exit('usage: %s REFERENCE_HTML' % argv[0])
    with open(argv[1], encoding='utf-8') as f:
        markup = f.read()
    missing = missing_options(markup)
    for line in missing:
        print('missing: %s' % line)
    if missing:
        return 1
    count = sum(len(list(o)) for _g, o in opts.list_opts())
    print('%s: all %d options of cinder_auxo shown with their help'
          % (argv[1], count))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
