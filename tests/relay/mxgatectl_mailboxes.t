#!/usr/bin/perl
# mxgatectl_mailboxes.t — the mailbox list through mxgatectl: add and
# remove, and import of the directory exports admins bring (golden files
# in tests/relay/data: Microsoft 365 / Exchange with PrimarySmtpAddress
# and ProxyAddresses, Active Directory's csvde with mail and
# proxyAddresses, Google Workspace with a byte order mark, a plain list).
# Every change goes to the configuration's candidate and is applied by
# `config commit`; a file with bad rows changes nothing and names each
# row FILE:LINE, unless --skip-bad; every change is audited with its
# counts; export writes the running list.
use strict;
use warnings;
use Test::More;
use FindBin;
use MxTest;

my $data = "$FindBin::Bin/data";
my $ctl = bin('mxgatectl');
my $dir = tmpdir();
my $etc = "$dir/etc";
mkdir $etc or die;
write_file("$etc/mailboxes", "old\@example.test\n\@catchall.test\n");
write_file("$etc/mxgate.conf", "hostname mx.example.test\nlisten 127.0.0.1:2525\n"
    . "route example.test 127.0.0.1:2526\nroute catchall.test 127.0.0.1:2526\n"
    . "queue $dir/queue\nmailboxes $etc/mailboxes\n");
my $audit = "$dir/audit.log";
$ENV{MXGATECTL_APPLY} = '/bin/true';
sub ctl { run($ctl, '-f', "$etc/mxgate.conf", '-a', $audit, @_) }
sub cand_list { my (undef, $o) = ctl('mailboxes', 'list'); [ split /\n/, $o ] }

my ($rc, $out, $err) = ctl('mailboxes', 'list');
is($rc, 0, 'mailboxes list');
is($out, "old\@example.test\n\@catchall.test\n", '... the running list');

($rc, $out) = ctl('mailboxes', 'add', 'New@Example.TEST', 'old@example.test');
is($rc, 0, 'mailboxes add');
like($out, qr/^1 added in the candidate/, '... one new (the other was there), lower-cased');
is_deeply(cand_list(), [ '@catchall.test', 'new@example.test', 'old@example.test' ],
    'the candidate list');
is(read_file("$etc/mailboxes"), "old\@example.test\n\@catchall.test\n",
    'the running list is unchanged until the commit');
($rc, $out, $err) = ctl('mailboxes', 'add', 'a@b@example.test');
is($rc, 100, 'mailboxes add refuses a bad address (exit 100)');
like($err, qr/'a\@b\@example\.test': /, '... and says why');
($rc) = ctl('mailboxes', 'remove', 'old@example.test');
is($rc, 0, 'mailboxes remove');
($rc, $out) = ctl('config', 'commit', '-m', 'new in, old out');
is($rc, 0, 'config commit applies it') or diag $out;
is(read_file("$etc/mailboxes"), "\@catchall.test\nnew\@example.test\n", 'the running list');

# imports: the result replaces the list (domain entries stay)
my %want = (
	'm365.csv' => [ qw(al@example.test alice@example.test bob@example.test
	    sales@example.test vertrieb@example.test) ],
	'google.csv' => [ qw(erin@example.test frank@example.test) ],
	'plain.txt' => [ qw(eve@example.test gina@example.test) ],
	# UTF-8 local parts (SMTPUTF8): kept byte for byte, ASCII lower-cased
	'utf8.txt' => [ "j\xc3\xb6rg\@example.test",
	    "\xe7\x94\xa8\xe6\x88\xb7\@example.test" ],
);
for my $f (sort keys %want) {
	($rc, $out, $err) = ctl('mailboxes', 'import', "$data/$f");
	is($rc, 0, "import $f") or diag $err;
	is_deeply(cand_list(), [ '@catchall.test', @{ $want{$f} } ],
	    "import $f: exactly its addresses (smtp: proxies, lower case)");
	ctl('config', 'discard');
}
# AD: a service account without mail is a bad row
($rc, $out, $err) = ctl('mailboxes', 'import', "$data/ad.csv");
is($rc, 100, 'import ad.csv: a row without an address refuses the file');
like($err, qr/ad\.csv:3: .*no address in this row/, '... naming FILE:LINE');
is_deeply(cand_list(), [ '@catchall.test', 'new@example.test' ], 'nothing changed');
($rc, $out) = ctl('mailboxes', 'import', "$data/ad.csv", '--skip-bad');
is($rc, 0, 'import ad.csv --skip-bad');
like($out, qr/3 addresses \(3 added, 1 removed, bad rows skipped\)/, '... with the counts');
is_deeply(cand_list(), [ '@catchall.test', qw(carol@example.test cdiaz@example.test dan@example.test) ],
    'the AD addresses (mail and proxyAddresses)');
ctl('config', 'discard');
# every bad row, FILE:LINE
($rc, $out, $err) = ctl('mailboxes', 'import', "$data/bad.csv");
is($rc, 100, 'import bad.csv refused');
like($err, qr/bad\.csv:3: 'bad\@\@example\.test': /, 'two @: line 3');
like($err, qr/bad\.csv:4: .*no address in this row/, 'no address: line 4');
like($err, qr/bad\.csv:5: 'user%other\@example\.test': /, "the '%' hack: line 5");
like($out, qr/nothing changed: 3 bad row\(s\) of 4/, 'nothing changed, and the count');
# --column
($rc, $out, $err) = ctl('mailboxes', 'import', "$data/m365.csv", '--column', 'PrimarySmtpAddress');
is($rc, 0, 'import --column NAME');
is_deeply(cand_list(), [ '@catchall.test', qw(alice@example.test bob@example.test sales@example.test) ],
    '... only that column');
ctl('config', 'discard');
($rc, $out, $err) = ctl('mailboxes', 'import', "$data/google.csv", '--column', '3');
is($rc, 0, 'import --column N');
is_deeply(cand_list(), [ '@catchall.test', qw(erin@example.test frank@example.test) ], '... column 3');
($rc, $out, $err) = ctl('mailboxes', 'import', "$data/google.csv", '--column', 'Nope');
is($rc, 100, 'import --column with an unknown name: refused');
# a broken CSV
write_file("$dir/broken.csv", "mail\nx\@example.test\n\"open\@example.test\n");
($rc, $out, $err) = ctl('mailboxes', 'import', "$dir/broken.csv");
is($rc, 100, 'a CSV with an unclosed quote is refused');
like($err, qr/broken\.csv:\d+: a quoted field is not closed/, '... with the reason');
($rc, $out) = ctl('config', 'commit', '-m', 'google');
is($rc, 0, 'commit the Google import');
($rc, $out) = ctl('mailboxes', 'export', "$dir/export.txt");
is($rc, 0, 'mailboxes export');
like(read_file("$dir/export.txt"), qr/^erin\@example\.test\nfrank\@example\.test\n\z/m, '... the running list');

my $a = read_file($audit) // '';
like($a, qr/op=mailboxes\.import arg=\S+google\.csv result=ok addresses=2 added=2 removed=\d+/, 'audit: an import with its counts');
like($a, qr/op=mailboxes\.import arg=\S+bad\.csv result=refused: bad=3 rows=4/, 'audit: a refused import');
like($a, qr/op=mailboxes\.add .*result=ok added=1/, 'audit: add');
like($a, qr/op=mailboxes\.export /, 'audit: export');
done_testing();
