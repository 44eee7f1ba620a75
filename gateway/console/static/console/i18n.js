// The console's words, Chinese first (the default), English beside each.
const WORDS = {
  "brand": ["网格 · 指挥中心", "wangge · Command center"],
  "nav.queue": ["工单队列", "Queue"], "nav.map": ["地图", "Map"], "nav.devices": ["设备", "Devices"],
  "nav.stats": ["统计", "Statistics"], "nav.worker": ["网格员", "Grid worker"], "nav.accounts": ["账号", "Accounts"],
  "acct.title": ["账号管理", "Accounts"], "acct.new": ["新建账号", "New account"], "acct.create": ["创建", "Create"],
  "acct.username": ["用户名", "Username"], "acct.name": ["姓名", "Name"], "acct.role": ["角色", "Role"],
  "acct.region": ["区域编码", "Region code"], "acct.state": ["状态", "State"], "acct.lastlogin": ["最近登录", "Last sign-in"],
  "acct.active": ["正常", "Active"], "acct.disabled": ["已停用", "Disabled"], "acct.disable": ["停用", "Disable"],
  "acct.enable": ["启用", "Enable"], "acct.save": ["保存", "Save"], "acct.reset": ["重置密码", "Reset password"],
  "acct.newpassword": ["新密码（至少10位）", "New password (10 or more characters)"], "acct.tokens": ["令牌", "Tokens"],
  "acct.revoke": ["吊销", "Revoke"], "acct.revoked": ["已吊销", "Revoked"], "acct.expires": ["到期", "Expires"],
  "acct.created": ["创建于", "Created"], "acct.done": ["已保存", "Saved"], "acct.password": ["初始密码", "Initial password"],
  "role.admin": ["管理员", "Admin"], "role.supervisor": ["主管", "Supervisor"], "role.operator": ["坐席", "Operator"],
  "role.grid_worker": ["网格员", "Grid worker"],
  "signout": ["退出", "Sign out"],
  "signin.title": ["网格指挥中心 · 登录", "wangge command center · Sign in"],
  "signin.username": ["用户名", "Username"], "signin.password": ["密码", "Password"], "signin.submit": ["登录", "Sign in"],
  "signin.failed": ["用户名或密码错误", "Wrong username or password"],
  "live.on": ["实时", "Live"], "live.off": ["重连中…", "Reconnecting…"],
  "feed.title": ["实时动态", "Live feed"],
  "feed.ticket.created": ["新工单", "New ticket"], "feed.alert.received": ["告警", "Alert"],
  "feed.ticket.updated": ["工单更新", "Ticket updated"], "feed.ticket.overdue": ["超时", "Overdue"],
  "feed.ticket.escalated": ["已上报", "Escalated"], "feed.ticket.closed": ["已结案", "Closed"],
  "alarm.critical": ["紧急告警", "Critical alert"],
  "queue.title": ["工单队列", "Ticket queue"], "queue.state": ["状态", "State"], "queue.open": ["未结案", "Open"],
  "queue.all": ["全部", "All"], "queue.category": ["类别", "Category"], "queue.region": ["区域", "Region"],
  "queue.since": ["开始日期", "From"], "queue.until": ["截止日期", "Until"], "queue.text": ["关键词", "Search"],
  "queue.apply": ["筛选", "Filter"], "queue.refresh": ["刷新", "Refresh"], "queue.more": ["加载更多", "Load more"],
  "queue.csv": ["导出 CSV", "Export CSV"], "queue.xlsx": ["导出 Excel", "Export Excel"],
  "queue.toomany": ["超过 10,000 条，请缩小时间或区域", "More than 10,000 tickets: narrow the period or area"],
  "queue.shown": ["显示 {n} 条", "{n} shown"], "queue.empty": ["没有符合条件的工单", "No tickets match"],
  "col.light": ["时限", "SLA"], "col.id": ["编号", "#"], "col.severity": ["级别", "Severity"],
  "col.category": ["类别", "Category"], "col.title": ["标题", "Title"], "col.region": ["区域", "Region"],
  "col.state": ["状态", "State"], "col.alerts": ["告警", "Alerts"], "col.opened": ["立案时间", "Opened"],
  "light.red": ["红灯", "Red"], "light.yellow": ["黄灯", "Yellow"], "light.green": ["绿灯", "Green"], "light.none": ["无时限", "No clock"],
  "left.left": ["剩余 {t}", "{t} left"], "left.over": ["超时 {t}", "{t} overdue"],
  "detail.facts": ["基本信息", "Facts"], "detail.snapshot": ["现场快照", "Snapshot"],
  "detail.clips": ["事件录像", "Event clips"], "detail.part": ["片段", "part"], "detail.cliptime": ["画面时间", "Frame time"],
  "detail.clipgone": ["录像已过期", "Clip expired"],
  "live.open": ["实时视频", "Live view"], "live.connecting": ["正在连接摄像头…", "Connecting to the camera…"],
  "live.playing": ["实时", "Live"], "live.offline": ["摄像头离线，无法查看实时视频", "The camera is offline: no live view"],
  "live.busy": ["该边缘盒的实时视频路数已满，请稍后再试", "This edge box streams as many live views as its uplink allows; try later"],
  "live.notfound": ["无此摄像头或不在您的辖区", "No such camera in your area"], "live.unavailable": ["实时视频暂不可用", "Live view is unavailable now"],
  "live.noresponse": ["摄像头没有响应", "The camera did not respond"], "live.ended": ["实时视频已结束", "Live view ended"],
  "live.nosupport": ["此浏览器不支持实时视频", "This browser cannot play live video"], "detail.nosnap": ["无快照", "No snapshot"],
  "detail.alerts": ["告警时间线", "Alert timeline"], "detail.history": ["处置记录", "History"],
  "detail.actions": ["操作", "Actions"], "detail.map": ["位置", "Location"], "detail.photos": ["照片", "Photos"],
  "detail.note": ["说明", "Note"], "detail.photo": ["附照片", "Photo"], "detail.department": ["处置部门", "Department"],
  "detail.submit": ["确定", "Confirm"], "detail.cancel": ["取消", "Cancel"], "detail.notfound": ["工单不存在或不在您的辖区", "No such ticket in your area"],
  "detail.due": ["时限", "Due"], "detail.escalation": ["上报级别", "Escalation level"], "detail.supervised": ["督办", "Supervised"],
  "detail.stale": ["工单有新变化，点击刷新", "Changed elsewhere: reload"],
  "detail.noactions": ["当前角色无可用操作", "No actions for your role"], "detail.needsnote": ["此操作需要填写说明", "This action needs a note"],
  "map.title": ["地图", "Map"], "map.nolib": ["地图库未构建（运行 make vendor）", "Map library not built (run make vendor)"],
  "map.plain": ["无底图（未配置瓦片服务）", "Plain background (no tile server configured)"],
  "map.clusters": ["类案（近90天，百米网格内同类≥3件）", "Recurring problems (90 days, 3+ of a kind in a 100 m cell)"],
  "map.clustersAt": ["统计于 {at}", "counted {at}"],
  "map.cluster": ["{n} 件，较前期 {change}", "{n} cases, {change} on the period before"],
  "devices.title": ["设备", "Devices"], "devices.edges": ["边缘盒子", "Edge boxes"], "devices.devices": ["摄像头与传感器", "Cameras and sensors"],
  "col.edge": ["边缘盒子", "Edge"], "col.kind": ["类型", "Kind"], "col.name": ["名称", "Name"], "col.lastseen": ["最后在线", "Last seen"],
  "col.fps": ["帧率", "fps"], "devices.snapshot": ["最新快照", "Latest snapshot"], "devices.nosnap": ["该摄像头暂无快照", "No snapshot from this camera yet"],
  "state.online": ["在线", "online"], "state.degraded": ["降级", "degraded"], "state.offline": ["离线", "offline"], "state.unknown": ["未知", "unknown"],
  "kind.camera": ["摄像头", "camera"], "kind.sensor": ["传感器", "sensor"],
  "stats.title": ["统计", "Statistics"], "stats.hotspots": ["一周热点（类别占比，较上周）", "Weekly hotspots (share, vs last week)"],
  "stats.regions": ["各区域工单数", "Tickets per region"], "stats.rates": ["结案率与按时结案率", "Closure and on-time closure rates"],
  "stats.false": ["各规则误报率", "False-alarm rate per rule"], "stats.lights": ["未结案工单时限", "Open tickets by light"],
  "stats.created": ["新建", "created"], "stats.closed": ["结案", "closed"], "stats.closure": ["结案率", "closure"],
  "stats.ontime": ["按时结案率", "on time"], "stats.none": ["暂无数据", "No data yet"],
  "stats.series": ["每日新建、结案与超时", "Opened, closed and overdue"], "stats.groups": ["各类别新建", "Opened per category group"],
  "stats.since": ["自", "From"], "stats.until": ["至", "To"], "stats.interval": ["粒度", "Per"],
  "stats.day": ["日", "day"], "stats.week": ["周", "week"], "stats.apply": ["查询", "Show"],
  "stats.opened": ["新建", "opened"], "stats.overdue": ["超时", "overdue"],
  "ind.title": ["考核指标（较上期）", "Indicators (vs the period before)"],
  "report.title": ["周报", "Weekly report"], "report.prev": ["上一周", "Week before"], "report.next": ["下一周", "Week after"],
  "report.print": ["打印", "Print"], "report.asof": ["截至 {at}", "As of {at}"], "report.hotspots": ["一周热点（较上周）", "Hotspots (vs the week before)"],
  "report.rank": ["排名", "Rank"], "report.count": ["本周（上周）", "This week (before)"], "report.share": ["占比", "Share"],
  "report.change": ["占比变化", "Change"], "report.clusters": ["类案（按网格）", "Recurring problems (by grid)"],
  "report.place": ["地点", "Place"], "report.overdue": ["超时未结案件", "Overdue cases"], "report.overdue_total": ["共 {n} 件", "{n} in all"], "ind.total": ["合计", "Total"], "ind.none": ["（未定）", "(none)"], "ind.rows": ["指标分组", "Indicators per"],
  "ind.reported": ["上报数", "Reported"], "ind.by.region": ["区域", "Region"], "ind.by.department": ["部门", "Department"],
  "ind.by.category": ["类别", "Category"], "ind.by.group": ["大类", "Category group"], "ind.by.rule": ["规则", "Rule"],
  "ind.by.device": ["设备", "Device"],
  "ind.note": ["本期上报的案件，按期末状态计；定义见 docs/cases.md", "Cases opened in the period, as they stood at its end; definitions in docs/cases.md"],
  "ind.register_rate": ["立案率", "Registered"], "ind.register_rate.def": ["立案数 / (上报数 − 不予立案数)", "registered / (reported − invalid)"],
  "ind.handle_rate": ["处置率", "Handled"], "ind.handle_rate.def": ["处置数 / 应处置数", "handled / due to handle"],
  "ind.on_time_handle_rate": ["按期处置率", "Handled on time"], "ind.on_time_handle_rate.def": ["按期处置数 / 应处置数", "handled on time / due to handle"],
  "ind.close_rate": ["结案率", "Closed"], "ind.close_rate.def": ["结案数 / 应结案数", "closed / due to close"],
  "ind.on_time_close_rate": ["按期结案率", "Closed on time"], "ind.on_time_close_rate.def": ["按期结案数 / 应结案数", "closed on time / due to close"],
  "ind.rework_rate": ["返工率", "Reworked"], "ind.rework_rate.def": ["返工数 / 应结案数", "reworked / due to close"],
  "ind.overdue_pending_rate": ["超期待处置率", "Overdue, unhandled"], "ind.overdue_pending_rate.def": ["超期未处置数 / 应处置数", "overdue unhandled / due to handle"],
  "ind.extension_rate": ["延期率", "Extended"], "ind.extension_rate.def": ["延期数 / 应处置数", "extended / due to handle"],
  "ind.satisfaction_rate": ["满意率", "Satisfied"], "ind.satisfaction_rate.def": ["满意与基本满意 / 评价数", "satisfied or basically / rated"],
  "ind.false_alarm_rate": ["误报率", "False alarms"], "ind.false_alarm_rate.def": ["误报数 / 上报数", "false alarms / reported"],
  "worker.title": ["网格员", "Grid worker"], "worker.report": ["一键上报", "Report a problem"], "worker.category": ["问题类别", "Category"],
  "worker.text": ["问题描述", "What is wrong"], "worker.photo": ["拍照", "Photo"], "worker.location": ["位置", "Location"],
  "worker.locate": ["获取当前位置", "Use my location"], "worker.submit": ["提交", "Submit"], "worker.mine": ["我上报的工单", "My reports"],
  "worker.area": ["我网格的工单", "Tickets in my grid"], "worker.sent": ["已上报，工单 #{id}", "Reported: ticket #{id}"],
  "worker.progress": ["居民进度链接", "Resident progress link"], "worker.nolocation": ["请先获取位置", "Set a location first"],
  "severity.critical": ["紧急", "critical"], "severity.major": ["重要", "major"], "severity.minor": ["一般", "minor"], "severity.info": ["提示", "info"],
  "st.reported": ["待立案", "reported"], "st.registered": ["已立案", "registered"], "st.dispatched": ["已派遣", "dispatched"],
  "st.accepted": ["已签收", "accepted"], "st.in_progress": ["处置中", "in progress"], "st.handled": ["已处置", "handled"],
  "st.verified": ["已核查", "verified"], "st.closed": ["已结案", "closed"], "st.returned": ["已退回", "returned"],
  "st.reopened": ["重新打开", "reopened"], "st.cancelled": ["已撤销", "cancelled"],
  "act.register": ["立案", "Register"], "act.dispatch": ["派遣", "Dispatch"], "act.accept": ["签收", "Accept"],
  "act.start": ["开始处置", "Start"], "act.handle": ["处置完成", "Handled"], "act.verify": ["核查通过", "Verify"],
  "act.rework": ["核查不通过", "Rework"], "act.close": ["结案", "Close"], "act.return": ["退回", "Return"],
  "act.reopen": ["重新打开", "Reopen"], "act.false_alarm": ["误报", "False alarm"], "act.comment": ["备注", "Comment"],
  "act.escalate": ["上报", "Escalate"], "act.supervise": ["督办", "Supervise"],
  "act.request_extension": ["申请延期", "Ask for more time"], "act.approve_extension": ["批准延期", "Grant extension"],
  "act.reject_extension": ["驳回延期", "Refuse extension"],
  "detail.extension": ["延期时长（如 4h、2d）", "Extra time (e.g. 4h, 2d)"],
  "detail.extension_pending": ["待批延期", "Extension asked"],
  "event.alert": ["告警", "Alert"], "event.ticket.opened": ["创建", "Opened"], "event.ticket.reopened": ["重新打开", "Reopened"],
  "event.ticket.overdue": ["超时", "Overdue"], "event.ticket.escalated": ["逐级上报", "Escalated"],
  "event.ticket.recurring": ["类案", "Recurring"], "event.resident.rating": ["居民评价", "Resident's rating"],
  "event.ticket.linked": ["关联治理专项", "Linked to a root-cause case"],
  "event.root_cause.case_added": ["新增关联案件", "Case added"], "event.root_cause.closed": ["随治理专项结案", "Closed with its root-cause case"],
  "event.ticket.reported_again": ["重复上报并入", "Reported again (joined)"], "event.ticket.merged": ["合并入本案", "Merged in"],
  "event.ticket.merged_into": ["已并入他案", "Merged into another case"], "event.ticket.split": ["拆分出新案", "Split out"],
  "rep.title": ["上报记录", "Reports"], "rep.channel": ["渠道", "Channel"], "rep.phone": ["回访电话", "Call-back"],
  "rep.split": ["拆分", "Split out"], "rep.merge": ["合并重复案件", "Merge a duplicate"], "rep.merge_id": ["重复案件编号", "Duplicate case #"],
  "rep.merge_go": ["并入本案", "Merge into this case"], "detail.reporters": ["上报人数", "Reporters"],
  "chan.resident": ["居民随手拍", "Resident page"], "chan.open311": ["Open311 系统", "Open311 system"],
  "chan.grid_worker": ["网格员", "Grid worker"], "chan.camera": ["摄像机", "Camera"], "chan.sensor": ["传感器", "Sensor"],
  "chan.edge": ["边缘盒", "Edge box"], "chan.unknown": ["未知", "Unknown"],
  "stats.intake": ["受理渠道", "Intake by channel"], "stats.cases": ["案件", "Cases"], "stats.reports": ["上报", "Reports"],
  "stats.dup_share": ["重复率", "Duplicates"], "stats.register_median": ["立案用时（中位）", "Time to register (median)"],
  "o311.title": ["Open311 接入系统", "Open311 systems"], "o311.system": ["系统名称", "System"], "o311.issue": ["签发密钥", "Issue a key"],
  "o311.per_minute": ["每分钟上限", "Per minute"], "o311.last_used": ["最近使用", "Last used"],
  "o311.shown_once": ["新密钥（只显示这一次）", "New key (shown this once)"],
  "root.open": ["开立治理专项", "Open a root-cause case"], "root.title": ["专项名称（可选）", "Title (optional)"],
  "root.linked": ["关联案件", "Linked cases"], "root.of": ["所属治理专项", "Root-cause case"],
  "detail.close_linked": ["同时结案关联案件", "Close its linked cases too"],
};

let lang = localStorage.getItem("wangge.lang") === "en" ? 1 : 0;

export function t(key, vars = {}) {
  const entry = WORDS[key];
  let text = entry ? entry[lang] : key;
  for (const [k, v] of Object.entries(vars)) text = text.replace(`{${k}}`, v);
  return text;
}

export function language() { return lang === 1 ? "en" : "zh-CN"; }

// The category catalogue from /api/v1/console/config: codes stay in the API, people read names.
let categories = new Map();
export function setCategories(list) { categories = new Map(list.map((c) => [c.code, c])); }
export function categoryList() { return [...categories.values()]; }
export function categoryName(code) {
  const own = categories.get(code);
  if (own) return lang === 1 ? own.en : own.zh;
  // An uncatalogued code (an edge's own rule): its nearest group's name and its last part.
  const tail = code.split(".").pop().replaceAll("_", " ");
  for (let group = code.split(".").slice(0, -1); group.length; group.pop()) {
    const g = categories.get(group.join("."));
    if (g) return `${lang === 1 ? g.en : g.zh} · ${tail}`;
  }
  return tail || code;
}

export function toggleLanguage() {
  lang = 1 - lang;
  localStorage.setItem("wangge.lang", lang === 1 ? "en" : "zh");
  document.documentElement.lang = language();
}

export function translateStatic(root = document) {
  document.documentElement.lang = language();
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}
