# boards/cpack.cmake - the .deb packages (included by boards/CMakeLists.txt after the install
# rules): hubcap-agent and, where the receiver is built (not in a board build), hubcap-receiver,
# for the build's architecture (amd64, or arm64 / armhf from boards/toolchain-*.cmake).
#   cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build-deb -j2
#   cd build-deb && cpack          # hubcap-agent_0.1.0_amd64.deb, hubcap-receiver_0.1.0_amd64.deb
# Depends come from dpkg-shlibdeps (also for a board build: it reads the target's multiarch
# packages), plus what it cannot see: qpid-proton, which tools/cross.sh unpacks into an overlay
# instead of installing, is named by hand there.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hubcap)
set(CPACK_PACKAGE_VENDOR hubcap)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "hubcap maintainers <hubcap@localhost>")
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL ${HC_COMPONENTS})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
# the install rules see the package's prefix (/usr) and put /etc and /lib files by DESTDIR
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS OFF)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE armhf)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|amd64)$")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
endif()

foreach(comp ${HC_COMPONENTS})
  string(TOUPPER ${comp} C)
  set(CPACK_DEBIAN_${C}_PACKAGE_NAME hubcap-${comp})
  set(CPACK_DEBIAN_${C}_FILE_NAME DEB-DEFAULT)
  # the config in /etc is a conffile: an upgrade keeps the admin's changes
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/deb-${comp}/conffiles "/etc/hubcap/hubcap-${comp}.conf\n")
  set(CPACK_DEBIAN_${C}_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_BINARY_DIR}/deb-${comp}/conffiles)
endforeach()
set(CPACK_DEBIAN_AGENT_PACKAGE_SECTION net)
set(CPACK_COMPONENT_AGENT_DESCRIPTION
    "hubcap edge agent: durable event buffer and shipper to Azure Event Hubs
hubcap-agent generates or reads business events (CSV, JSON Lines, a watched folder), keeps them
durably in an LMDB buffer and ships them in batches to Azure Event Hubs (HTTPS REST, AMQP 1.0)
or MQTT. The hubcap-agent.service unit runs it hardened, with /etc/hubcap/hubcap-agent.conf.")
set(CPACK_COMPONENT_RECEIVER_DESCRIPTION
    "hubcap receiver: Event Hubs-compatible ingest, Capture Avro files, lakehouse
hubcap-receiver speaks the Event Hubs REST and AMQP 1.0 protocols, writes Event Hubs
Capture-compatible Avro files (acknowledged after fsync) and lands them into PostgreSQL bronze,
silver and gold. The hubcap-receiver.service unit runs it hardened, with
/etc/hubcap/hubcap-receiver.conf.")
set(CPACK_DEBIAN_AGENT_PACKAGE_RECOMMENDS systemd)
set(CPACK_DEBIAN_RECEIVER_PACKAGE_RECOMMENDS systemd)
set(CPACK_DEBIAN_RECEIVER_PACKAGE_SUGGESTS postgresql)

if(CMAKE_CROSSCOMPILING AND HUBCAP_WITH_AMQP)
  # libqpid-proton.so.11 is in tools/cross.sh's overlay, not in dpkg's database: dpkg-shlibdeps
  # finds it there (a private directory) and skips it, so the dependency is named here, as the
  # shlibs file of the .deb the overlay came from says (build-<arch>/debs)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${HUBCAP_CROSS_OVERLAY}/usr/lib/${HC_TRIPLET})
  set(hc_proton_dep libqpid-proton11)
  file(GLOB hc_proton_deb ${CMAKE_BINARY_DIR}/debs/libqpid-proton11_*.deb)
  if(hc_proton_deb)
    list(GET hc_proton_deb 0 hc_proton_deb)
    execute_process(COMMAND dpkg-deb --info ${hc_proton_deb} shlibs OUTPUT_VARIABLE hc_shlibs
                    ERROR_QUIET)
    if(hc_shlibs MATCHES "libqpid-proton 11 ([^\n]+)")
      string(STRIP "${CMAKE_MATCH_1}" hc_proton_dep)
    endif()
  endif()
  set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "${hc_proton_dep}")
endif()

include(CPack)
