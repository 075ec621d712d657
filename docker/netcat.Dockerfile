# A stand-in for busybox:latest where no registry can be reached: Debian's
# statically linked busybox (package busybox-static, /bin/busybox) in an empty image,
# with its applets (sh, nc, timeout, ...) linked into /bin.
# docker/netcat-image.sh builds it as tp0-netcat:latest from a context that holds
# only the busybox binary; validar-echo-server.sh uses it when busybox:latest is absent.
FROM scratch
LABEL tp0.image="netcat"
ENV PATH=/bin
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh"]
