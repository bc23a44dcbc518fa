"""Deterministic troubleshooting playbooks for the offline assistant (common MSP problems).

Each playbook asks for evidence one question at a time, then proposes a primary fix with a PowerShell
script, and a fallback fix if the primary one fails. Scripts take their values as `param()` defaults,
so the one-off script the engineer renders runs as-is, and the same names are listed as parameters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Question:
    label: str  # how the answer is recorded as a fact: "<label>: <answer>"
    text: str


@dataclass(frozen=True)
class PlaybookFix:
    title: str
    description: str
    confidence_pct: int
    script: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Playbook:
    key: str
    name: str
    keywords: tuple[str, ...]
    diagnosis: str
    questions: tuple[Question, ...]
    fixes: tuple[PlaybookFix, ...]

    def score(self, text: str) -> int:
        lowered = text.lower()
        return sum(1 for kw in self.keywords if re.search(r"(?<![a-z0-9])" + re.escape(kw) + r"(?![a-z0-9])", lowered))


def _param(description: str, default: str) -> dict[str, str]:
    return {"description": description, "default": default}


PRINTER = Playbook(
    key="printer",
    name="printing / the print spooler",
    keywords=("printer", "printers", "printing", "print", "spooler", "print queue", "print job", "print jobs"),
    diagnosis="a stuck print spooler: jobs wedged in the queue block everything behind them",
    questions=(
        Question("Scope", "Is it one user or everyone who prints to that printer, and does the printer's own "
                          "display show an error?"),
        Question("Spooler and queue", "On an affected PC, what does `Get-Service Spooler` report, and are there "
                                      "jobs stuck in the queue (`Get-PrintJob -PrinterName <name>`)?"),
        Question("Network reachability", "Can the PC reach the printer: does `Test-Connection <printer IP> -Count 2` "
                                         "answer?"),
    ),
    fixes=(
        PlaybookFix(
            "Restart the print spooler and clear stuck jobs",
            "Stop the Print Spooler, delete the spooled files that wedge the queue, start it again and show the "
            "printer's state.",
            75,
            "param([string]$PrinterName = 'Office Printer')\n"
            "Stop-Service -Name Spooler -Force\n"
            "Remove-Item -Path \"$env:SystemRoot\\System32\\spool\\PRINTERS\\*\" -Force -ErrorAction SilentlyContinue\n"
            "Start-Service -Name Spooler\n"
            "Get-Printer -Name $PrinterName | Select-Object Name, PrinterStatus, PortName",
            {"PrinterName": _param("Name of the affected printer", "Office Printer")},
        ),
        PlaybookFix(
            "Re-create the printer's TCP/IP port and queue",
            "A corrupt port or driver survives a spooler restart: remove the printer, re-create its standard "
            "TCP/IP port and add it back with the same driver.",
            55,
            "param([string]$PrinterName = 'Office Printer', [string]$PrinterIP = '192.0.2.50')\n"
            "$driver = (Get-Printer -Name $PrinterName).DriverName\n"
            "Remove-Printer -Name $PrinterName\n"
            "Remove-PrinterPort -Name \"IP_$PrinterIP\" -ErrorAction SilentlyContinue\n"
            "Add-PrinterPort -Name \"IP_$PrinterIP\" -PrinterHostAddress $PrinterIP\n"
            "Add-Printer -Name $PrinterName -DriverName $driver -PortName \"IP_$PrinterIP\"",
            {"PrinterName": _param("Name of the affected printer", "Office Printer"),
             "PrinterIP": _param("The printer's IP address", "192.0.2.50")},
        ),
    ),
)

OUTLOOK = Playbook(
    key="outlook",
    name="Outlook password prompts",
    keywords=("outlook", "password prompt", "password prompts", "asking for password", "asking for a password",
              "asks for password", "credential prompt", "credentials prompt", "mailbox", "exchange online"),
    diagnosis="stale cached Office credentials (or legacy authentication) making Outlook re-prompt",
    questions=(
        Question("Outlook on the web", "Does the same password work in Outlook on the web (outlook.office.com)?"),
        Question("Recent password change", "Was the user's password changed recently, or did MFA settings change?"),
        Question("Other devices", "Does the prompt also appear on the user's other devices (phone, another PC)?"),
    ),
    fixes=(
        PlaybookFix(
            "Clear cached Office credentials and enforce modern authentication",
            "Delete the stored Office/Outlook entries from Credential Manager so Outlook signs in fresh, and make "
            "sure modern authentication is enabled for Office.",
            70,
            "param([string]$OfficeVersion = '16.0')\n"
            "cmdkey /list | Select-String -Pattern 'MicrosoftOffice|Outlook|msteams' | ForEach-Object {\n"
            "    $target = ($_ -split 'target=')[-1].Trim()\n"
            "    cmdkey /delete:$target\n"
            "}\n"
            "$key = \"HKCU:\\Software\\Microsoft\\Office\\$OfficeVersion\\Common\\Identity\"\n"
            "New-Item -Path $key -Force | Out-Null\n"
            "Set-ItemProperty -Path $key -Name EnableADAL -Value 1 -Type DWord",
            {"OfficeVersion": _param("Office registry version", "16.0")},
        ),
        PlaybookFix(
            "Create a fresh Outlook profile",
            "A damaged profile keeps the old credentials in its account settings: create a new profile and make "
            "it the default (the old one is kept).",
            50,
            "param([string]$ProfileName = 'Outlook-Fresh', [string]$OfficeVersion = '16.0')\n"
            "$profiles = \"HKCU:\\Software\\Microsoft\\Office\\$OfficeVersion\\Outlook\\Profiles\"\n"
            "New-Item -Path \"$profiles\\$ProfileName\" -Force | Out-Null\n"
            "Set-ItemProperty -Path \"HKCU:\\Software\\Microsoft\\Office\\$OfficeVersion\\Outlook\" "
            "-Name DefaultProfile -Value $ProfileName\n"
            "Write-Output \"Start Outlook: it will set up $ProfileName\"",
            {"ProfileName": _param("Name of the new profile", "Outlook-Fresh"),
             "OfficeVersion": _param("Office registry version", "16.0")},
        ),
    ),
)

VPN = Playbook(
    key="vpn",
    name="VPN drops",
    keywords=("vpn", "tunnel", "anyconnect", "forticlient", "globalprotect", "wireguard", "openvpn",
              "vpn drops", "vpn disconnects"),
    diagnosis="packet fragmentation on the tunnel (MTU too high) or the network adapter powering down",
    questions=(
        Question("Drop pattern", "How often does it drop: at a fixed interval, or when the laptop is idle?"),
        Question("Network", "Does it drop on every network (home Wi-Fi, hotspot, office), or only one?"),
        Question("MTU test", "What does `ping <VPN gateway> -f -l 1400` give: replies, or 'Packet needs to be "
                             "fragmented'?"),
    ),
    fixes=(
        PlaybookFix(
            "Lower the MTU on the VPN interface",
            "Oversized packets are dropped inside the tunnel; an MTU of 1400 on the VPN adapter avoids "
            "fragmentation.",
            70,
            "param([string]$VpnAdapter = 'VPN', [int]$Mtu = 1400)\n"
            "Set-NetIPInterface -InterfaceAlias $VpnAdapter -NlMtuBytes $Mtu\n"
            "Get-NetIPInterface -InterfaceAlias $VpnAdapter | Select-Object InterfaceAlias, AddressFamily, NlMtu",
            {"VpnAdapter": _param("Interface alias of the VPN adapter", "VPN"),
             "Mtu": _param("MTU in bytes", "1400")},
        ),
        PlaybookFix(
            "Stop the network adapter from powering down",
            "Power management turns the Wi-Fi/Ethernet adapter off when idle, which kills the tunnel.",
            55,
            "param([string]$Adapter = 'Wi-Fi')\n"
            "Disable-NetAdapterPowerManagement -Name $Adapter\n"
            "powercfg /setacvalueindex SCHEME_CURRENT SUB_NONE CONNECTIVITYINSTANDBY 1\n"
            "Get-NetAdapterPowerManagement -Name $Adapter",
            {"Adapter": _param("Name of the physical adapter", "Wi-Fi")},
        ),
    ),
)

DISK = Playbook(
    key="disk",
    name="a full disk",
    keywords=("disk full", "disk space", "low disk", "out of space", "no space", "storage full", "drive is full",
              "drive full", "full disk", "free space", "c: drive", "c drive"),
    diagnosis="temporary files, the Windows Update cache and old component versions filling the system drive",
    questions=(
        Question("Free space", "How much free space is left: what does `Get-PSDrive C` show?"),
        Question("Largest folders", "Which folders are largest (e.g. `Get-ChildItem C:\\ -Directory | ...` or "
                                    "WinDirStat): Users, Windows, ProgramData?"),
        Question("Recent change", "Did it fill up suddenly (an update, a sync client, a log) or slowly?"),
    ),
    fixes=(
        PlaybookFix(
            "Clean temporary files and the Windows Update cache",
            "Remove user and system temp files, the downloaded update cache and superseded components, then "
            "report the free space.",
            75,
            "param([string]$Drive = 'C')\n"
            "Remove-Item -Path \"$env:TEMP\\*\", \"$env:SystemRoot\\Temp\\*\" -Recurse -Force -ErrorAction SilentlyContinue\n"
            "Stop-Service -Name wuauserv -Force\n"
            "Remove-Item -Path \"$env:SystemRoot\\SoftwareDistribution\\Download\\*\" -Recurse -Force "
            "-ErrorAction SilentlyContinue\n"
            "Start-Service -Name wuauserv\n"
            "Clear-RecycleBin -DriveLetter $Drive -Force -ErrorAction SilentlyContinue\n"
            "Dism.exe /Online /Cleanup-Image /StartComponentCleanup\n"
            "Get-PSDrive $Drive | Select-Object Used, Free",
            {"Drive": _param("Drive letter to clean", "C")},
        ),
        PlaybookFix(
            "Find the largest files and enable Storage Sense",
            "When cleanup is not enough, list the 25 largest files for a decision and let Storage Sense keep "
            "temp files and the recycle bin in check.",
            50,
            "param([string]$Path = 'C:\\Users', [int]$Top = 25)\n"
            "Get-ChildItem -Path $Path -Recurse -File -ErrorAction SilentlyContinue |\n"
            "    Sort-Object Length -Descending | Select-Object -First $Top FullName, "
            "@{n='GB';e={[math]::Round($_.Length / 1GB, 2)}}\n"
            "$key = 'HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\StorageSense\\Parameters\\StoragePolicy'\n"
            "New-Item -Path $key -Force | Out-Null\n"
            "Set-ItemProperty -Path $key -Name '01' -Value 1 -Type DWord",
            {"Path": _param("Folder to search", "C:\\Users"), "Top": _param("How many files to list", "25")},
        ),
    ),
)

LOCKOUT = Playbook(
    key="lockout",
    name="account lockouts",
    keywords=("locked out", "lockout", "lockouts", "account locked", "account is locked", "keeps locking",
              "keeps getting locked", "locks out"),
    diagnosis="a device or service still using an old password and locking the account",
    questions=(
        Question("Lockout frequency", "How often is the account locked: minutes after an unlock, or once a day?"),
        Question("Password change", "When did the user last change the password?"),
        Question("Devices", "Which devices use this account: phones with mail, a second PC, mapped drives, "
                            "scheduled tasks or services?"),
    ),
    fixes=(
        PlaybookFix(
            "Find the lockout source and unlock the account",
            "Read event 4740 on the PDC emulator to see which computer locks the account, then unlock it.",
            70,
            "param([string]$UserName = 'jdoe')\n"
            "$pdc = (Get-ADDomain).PDCEmulator\n"
            "Get-WinEvent -ComputerName $pdc -FilterHashtable @{LogName = 'Security'; Id = 4740} -MaxEvents 50 |\n"
            "    Where-Object { $_.Properties[0].Value -eq $UserName } |\n"
            "    Select-Object TimeCreated, @{n = 'Source'; e = { $_.Properties[1].Value }}\n"
            "Unlock-ADAccount -Identity $UserName",
            {"UserName": _param("The locked-out account (sAMAccountName)", "jdoe")},
        ),
        PlaybookFix(
            "Remove stale credentials from the source computer",
            "Run on the computer the lockout events name: delete saved Windows credentials and list services "
            "and tasks that run as the user.",
            55,
            "param([string]$UserName = 'jdoe')\n"
            "cmdkey /list | Select-String -Pattern 'Target:' | ForEach-Object {\n"
            "    cmdkey /delete:(($_ -split 'Target: ')[-1].Trim())\n"
            "}\n"
            "Get-CimInstance Win32_Service | Where-Object StartName -like \"*$UserName*\" | Select-Object Name, StartName\n"
            "Get-ScheduledTask | Where-Object { $_.Principal.UserId -like \"*$UserName*\" } | Select-Object TaskName",
            {"UserName": _param("The locked-out account", "jdoe")},
        ),
    ),
)

MAPPED_DRIVES = Playbook(
    key="mapped_drives",
    name="mapped network drives",
    keywords=("mapped drive", "mapped drives", "network drive", "network drives", "drive mapping", "drive letter",
              "shared drive", "file share", "net use", "unc path", "map a drive", "mapped"),
    diagnosis="the drive mapping being lost or created under the other token (elevated vs. standard)",
    questions=(
        Question("Symptom", "Is the drive missing entirely, or shown with a red X / 'unavailable'?"),
        Question("Direct path", "Does the UNC path open directly in Explorer (e.g. \\\\server\\share)?"),
        Question("How it is mapped", "How is the drive mapped: Group Policy, a logon script, or by hand?"),
    ),
    fixes=(
        PlaybookFix(
            "Re-map the drive persistently",
            "Remove the broken mapping and map the share again so it survives sign-out.",
            70,
            "param([string]$DriveLetter = 'S', [string]$SharePath = '\\\\fileserver\\shared')\n"
            "net use \"$($DriveLetter):\" /delete /y 2>$null\n"
            "New-PSDrive -Name $DriveLetter -PSProvider FileSystem -Root $SharePath -Persist -Scope Global\n"
            "Get-PSDrive -Name $DriveLetter",
            {"DriveLetter": _param("Drive letter", "S"), "SharePath": _param("UNC path of the share", "\\\\fileserver\\shared")},
        ),
        PlaybookFix(
            "Share mappings between elevated and standard sessions (EnableLinkedConnections)",
            "Drives mapped in one token are invisible to the other under UAC; EnableLinkedConnections shares "
            "them. Needs a restart.",
            55,
            "param([int]$Enable = 1)\n"
            "$key = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System'\n"
            "Set-ItemProperty -Path $key -Name EnableLinkedConnections -Value $Enable -Type DWord\n"
            "Write-Output 'Restart the computer for this to take effect.'",
            {"Enable": _param("1 to enable", "1")},
        ),
    ),
)

SLOW_PC = Playbook(
    key="slow_pc",
    name="a slow PC",
    keywords=("slow", "sluggish", "takes forever", "freezing", "freezes", "high cpu", "100% disk", "lagging",
              "laggy", "performance", "slow pc", "slow computer", "slow laptop"),
    diagnosis="too many startup programs and a power plan throttling the CPU, or a failing disk",
    questions=(
        Question("When it is slow", "Is it slow all the time, only at startup, or in one application?"),
        Question("Top consumers", "What are the top processes by CPU and memory in Task Manager (or "
                                  "`Get-Process | Sort-Object CPU -Descending | Select-Object -First 5`)?"),
        Question("Disk and uptime", "How much free disk space is there, and when was it last restarted?"),
    ),
    fixes=(
        PlaybookFix(
            "Trim startup programs and use the balanced power plan",
            "List and disable non-essential startup entries, set the balanced power plan and report the top "
            "processes after the change.",
            65,
            "param([string[]]$DisableStartup = @('OneDriveSetup', 'Teams'))\n"
            "Get-CimInstance Win32_StartupCommand | Select-Object Name, Command, Location\n"
            "$run = 'HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\Run'\n"
            "foreach ($name in $DisableStartup) { Remove-ItemProperty -Path $run -Name $name -ErrorAction SilentlyContinue }\n"
            "powercfg /setactive SCHEME_BALANCED\n"
            "Get-Process | Sort-Object CPU -Descending | Select-Object -First 5 Name, CPU, WorkingSet",
            {"DisableStartup": _param("Startup entries to remove", "OneDriveSetup,Teams")},
        ),
        PlaybookFix(
            "Repair system files and check disk health",
            "Corrupt system files or a failing disk make a PC slow regardless of load: run SFC and DISM and read "
            "the disk's health.",
            50,
            "param([string]$Drive = 'C')\n"
            "sfc.exe /scannow\n"
            "Dism.exe /Online /Cleanup-Image /RestoreHealth\n"
            "Get-PhysicalDisk | Select-Object FriendlyName, MediaType, HealthStatus, OperationalStatus\n"
            "Repair-Volume -DriveLetter $Drive -Scan",
            {"Drive": _param("Drive letter to scan", "C")},
        ),
    ),
)

PLAYBOOKS: tuple[Playbook, ...] = (PRINTER, OUTLOOK, VPN, DISK, LOCKOUT, MAPPED_DRIVES, SLOW_PC)


def choose(texts: list[str]) -> Playbook | None:
    """The playbook of the earliest text that matches any (so the choice sticks as the chat goes on)."""
    for text in texts:
        scored = [(pb.score(text), -i, pb) for i, pb in enumerate(PLAYBOOKS)]
        best = max(scored, key=lambda t: (t[0], t[1]))
        if best[0] > 0:
            return best[2]
    return None
