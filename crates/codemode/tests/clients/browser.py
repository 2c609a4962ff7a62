"""A browser for sign-in tests: `BROWSER="python3 browser.py"` makes codemode's sign-in open
this instead of a person's browser. It does what a browser does with an authorization server
that signs the user in at once (the conformance suite's, a test server's): GET the
authorization URL, and follow its redirect to codemode's loopback callback. Without following
redirects itself, so that it can say where each went."""

import sys
import urllib.error
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def main() -> int:
    url = sys.argv[-1]
    opener = urllib.request.build_opener(NoRedirect)
    for _ in range(5):
        try:
            with opener.open(url, timeout=20) as response:
                body = response.read()
                print(f"browser: {response.status} at {url.split('?')[0]}", file=sys.stderr)
                return 0 if response.status == 200 else 1
        except urllib.error.HTTPError as e:
            if e.code in (301, 302, 303, 307, 308) and e.headers.get("location"):
                url = urllib.parse.urljoin(url, e.headers["location"])
                continue
            print(f"browser: {e.code} at {url.split('?')[0]}: {e.read()[:200]!r}", file=sys.stderr)
            return 1
    return 1


if __name__ == "__main__":
    import urllib.parse

    sys.exit(main())
