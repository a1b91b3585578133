# MxPostfix.pm — a private Postfix instance as the customer's server in
# the integration tests: its own main.cf and master.cf, queue, data and
# log in a temporary directory, smtpd on 127.0.0.1 only, stopped at exit.
# Debian's postfix package provides the programs (make deps installs it).
#
#   my $pf = MxPostfix::start(main => "extra main.cf lines\n");
#   $pf->{up} (it listens), $pf->port, $pf->log (its maillog), $pf->stop,
#   $pf->restart (the same instance again, after stop)
package MxPostfix;
use strict;
use warnings;
use MxTest;
use MxSMTP;

my @running;
END {
	local $?;
	$_->stop for @running;
}

# start(main => TEXT, dir => DIR, port => N): DIR (made here when absent)
# holds the instance; TEXT is appended to the base main.cf (later
# settings win); smtpd listens on N (a free port when absent).
sub start {
	my (%o) = @_;
	my $dir = $o{dir} // MxTest::tmpdir();
	my $pf = "$dir/postfix";
	my $self = bless { dir => $pf, port => $o{port} // MxSMTP::free_port(),
	    log => "$pf/maillog", up => 0, out => '' }, __PACKAGE__;
	chmod 0711, $dir;	# its daemons (user postfix) reach files here
	mkdir $pf;
	mkdir "$pf/$_" for qw(conf queue data);
	chown scalar(getpwnam('postfix')) // 0, -1, "$pf/data";
	chmod 0755, $pf;
	return $self unless -x '/usr/sbin/postfix';
	MxTest::write_file("$pf/conf/main.cf", <<"CF" . ($o{main} // ''));
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.customer.test
mydomain = customer.test
mydestination =
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
alias_maps =
alias_database =
maillog_file = $self->{log}
maillog_file_prefixes = $dir
biff = no
smtpd_banner = \$myhostname ESMTP
CF
	MxTest::write_file("$pf/conf/master.cf", <<"CF");
127.0.0.1:$self->{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
	return $self->restart;
}

sub restart {
	my ($self) = @_;
	my $rc;

	($rc, $self->{out}) = MxSMTP::run_timeout(30, 'postfix', '-c',
	    "$self->{dir}/conf", 'start');
	$self->{up} = $rc == 0 &&
	    MxSMTP::wait_until(10, sub { MxSMTP::listening($self->{port}) });
	push @running, $self if $rc == 0;
	return $self;
}

sub port { $_[0]{port} }
sub log { MxTest::read_file($_[0]{log}) // '' }

sub stop {
	my ($self) = @_;
	return unless $self->{up} || grep { defined $_ && $_ == $self } @running;
	system("timeout 20 postfix -c $self->{dir}/conf stop >/dev/null 2>&1");
	MxSMTP::wait_until(10, sub { !MxSMTP::listening($self->{port}) });
	@running = grep { defined $_ && $_ != $self } @running;
	$self->{up} = 0;
}

1;
